"""The classroom's pages: the front page and joining a workshop for
learners; the workshop list, form, dashboard, join cards and progress export
for instructors."""
from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_http_methods

from labdeck import join as joining
from labdeck import workshops
from labdeck.forms import WorkshopForm
from labdeck.middleware import LEARNER_KEY
from labdeck.models import Learner, Workshop
from lessons import catalog, rooms
from sandboxes.owners import POOL_KEY, ROOM_KEY, SESSION_KEY


@ensure_csrf_cookie
def home(request: HttpRequest) -> HttpResponse:
    """Labdeck's front page: a Start button, then the terminal."""
    return render(request, "home.html")


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
    if joining.blocked(request):
        context["error"] = "Too many wrong codes. Wait a few minutes, then try again."
        return render(request, "join.html", context, status=429)
    if not name:
        context["error"] = "Please give a name the instructor will recognise."
        return render(request, "join.html", context, status=400)
    workshop = joining.find(code, request)
    if workshop is None:
        context["error"] = "No open workshop has this code. Check it with your instructor."
        return render(request, "join.html", context, status=404)
    learner = Learner.objects.create(workshop=workshop, display_name=name)
    request.session.cycle_key()
    request.session[LEARNER_KEY] = learner.pk
    request.session[SESSION_KEY] = learner.owner
    request.session[POOL_KEY] = workshop.pool_group
    request.session[ROOM_KEY] = workshop.room
    request.session[rooms.SECTIONS_KEY] = {"course": workshop.course, "sections": workshop.sections}
    async_to_sync(rooms.report)(workshop.room, learner.owner, "joined")
    return redirect(f"/courses/{workshop.course}/")


def _qr_svg(url: str) -> str:
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode().split("?>", 1)[-1]


def _workshop_for_user(request: HttpRequest, code: str) -> Workshop:
    """The workshop, if this instructor may run it: ownership in one place."""
    workshop = get_object_or_404(Workshop, code=joining.normalise(code))
    if not workshop.visible_to(request.user):
        raise PermissionDenied("This workshop belongs to another instructor.")
    return workshop


@staff_member_required
def workshop_list(request: HttpRequest) -> HttpResponse:
    found = Workshop.visible(request.user).annotate(learner_count=Count("learners")).order_by("-starts_at")
    return render(request, "workshops/list.html", {
        "workshops": found, "can_create": request.user.has_perm("labdeck.add_workshop")})


@staff_member_required
def workshop_new(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("labdeck.add_workshop"):
        raise PermissionDenied("You may not create workshops.")
    form = WorkshopForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        workshop = form.save(commit=False)
        workshop.instructor = request.user
        workshop.save()
        workshops.sync_pool(workshop)
        return redirect("workshop-dashboard", code=workshop.code)
    return render(request, "workshops/form.html", {"form": form, "title": "New workshop"},
                  status=400 if request.method == "POST" else 200)


@staff_member_required
@ensure_csrf_cookie
def dashboard(request: HttpRequest, code: str) -> HttpResponse:
    """The live dashboard; its data comes over the websocket."""
    workshop = _workshop_for_user(request, code)
    link = request.build_absolute_uri(workshop.join_path())
    course = catalog.get(workshop.course)
    return render(request, "workshops/dashboard.html", {
        "workshop": workshop, "join_link": link, "qr": mark_safe(_qr_svg(link)),
        "ws_url": f"/ws/workshops/{workshop.code}/", "export_url": f"/workshops/{workshop.code}/export.csv",
        "cards_url": f"/workshops/{workshop.code}/cards/", "stuck_after": settings.LABDECK_STUCK_AFTER,
        "slide_count": len(course.slides()) if course else 0, "nodes": range(1, (course.nodes if course else 1) + 1),
    })


@staff_member_required
def export(request: HttpRequest, code: str) -> HttpResponse:
    workshop = _workshop_for_user(request, code)
    response = HttpResponse(workshops.progress_csv(workshop), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="labdeck-{workshop.code}-progress.csv"'
    return response


@staff_member_required
def cards(request: HttpRequest, code: str) -> HttpResponse:
    """A printable page of join cards: workshop, code, link and QR code."""
    workshop = _workshop_for_user(request, code)
    link = request.build_absolute_uri(workshop.join_path())
    count = max(1, min(int(request.GET.get("count", workshop.expected_attendees) or 1), 500))
    return render(request, "cards.html", {
        "workshop": workshop, "link": link, "qr": mark_safe(_qr_svg(link)), "cards": range(count),
    })
