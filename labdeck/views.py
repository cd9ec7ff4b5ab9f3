"""The learner's pages: the front page, joining a workshop, and the
instructor's printable join cards."""
from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_http_methods

from labdeck import join as joining
from labdeck.models import Learner, Workshop
from sandboxes.owners import SESSION_KEY

LEARNER_KEY = "labdeck_learner"


@ensure_csrf_cookie
def home(request: HttpRequest) -> HttpResponse:
    """Labdeck's front page: a Start button, then the terminal."""
    return render(request, "home.html")


def _client(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, code: str = "") -> HttpResponse:
    """Join a workshop with its code and a display name; no account needed."""
    current = Learner.objects.filter(pk=request.session.get(LEARNER_KEY)).select_related("workshop").first()
    if request.method == "GET":
        if current and (not code or joining.normalise(code) == current.workshop.code):
            return redirect(f"/courses/{current.workshop.course}/")
        return render(request, "join.html", {"code": joining.normalise(code)})
    code, name = request.POST.get("code", ""), request.POST.get("name", "").strip()[:60]
    context = {"code": joining.normalise(code), "name": name}
    if joining.blocked(_client(request)):
        context["error"] = "Too many wrong codes. Wait a few minutes, then try again."
        return render(request, "join.html", context, status=429)
    if not name:
        context["error"] = "Please give a name the instructor will recognise."
        return render(request, "join.html", context, status=400)
    workshop = joining.find(code, _client(request))
    if workshop is None:
        context["error"] = "No open workshop has this code. Check it with your instructor."
        return render(request, "join.html", context, status=404)
    learner = Learner.objects.create(workshop=workshop, display_name=name)
    request.session.cycle_key()
    request.session[LEARNER_KEY] = learner.pk
    request.session[SESSION_KEY] = learner.owner
    return redirect(f"/courses/{workshop.course}/")


def _qr_svg(url: str) -> str:
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode().split("?>", 1)[-1]


@staff_member_required
def cards(request: HttpRequest, code: str) -> HttpResponse:
    """A printable page of join cards: workshop, code, link and QR code."""
    workshop = get_object_or_404(Workshop, code=joining.normalise(code))
    link = request.build_absolute_uri(workshop.join_path())
    count = max(1, min(int(request.GET.get("count", workshop.expected_attendees) or 1), 500))
    return render(request, "cards.html", {
        "workshop": workshop, "link": link, "qr": mark_safe(_qr_svg(link)), "cards": range(count),
    })
