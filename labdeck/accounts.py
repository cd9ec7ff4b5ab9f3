"""Accounts for self-paced study: sign up, log in, log out.

A learner can start without an account; what they did until then (progress,
the sandbox they are using) belongs to the random owner key of their session.
Signing up or logging in moves it to the account's key, so they can stop
tonight and continue tomorrow, on any machine.
"""
from __future__ import annotations

from django.contrib.auth import login, logout
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from labdeck import ratelimit
from labdeck.models import Learner
from labdeck.views import LEARNER_KEY
from lessons import progress
from sandboxes import pool
from sandboxes.owners import SESSION_KEY, owner_key

DEFAULT_NEXT = "/courses/"
LOGIN_SCOPE = "login"


def account_owner(user: AbstractBaseUser) -> str:
    """The owner key of an account's sandboxes and progress, the same in every session."""
    return f"user-{user.pk}"


def _next(request: HttpRequest) -> str:
    """Where to go afterwards: `next` if it stays on this site (and is not
    this form again), else the courses."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()) and not target.startswith("/accounts/"):
        return target
    return DEFAULT_NEXT


def _adopt_learner(learner_pk: int, owner: str) -> None:
    """Point a workshop learner at the account, so the instructor's dashboard
    keeps seeing their progress; an owner key belongs to one learner only."""
    if not Learner.objects.filter(owner=owner).exists():
        Learner.objects.filter(pk=learner_pk).update(owner=owner)


def sign_in(request: HttpRequest, user: AbstractBaseUser) -> None:
    """Log user in and bring along what this browser did anonymously.

    Only an anonymous session hands over its progress and sandbox: logging in
    as someone else on a shared machine must not give them the last user's.
    """
    anonymous = not request.user.is_authenticated
    old = owner_key(request.session, create=False)
    learner_pk = request.session.get(LEARNER_KEY)
    login(request, user)
    new = account_owner(user)
    if anonymous and old and old != new:
        progress.move(old, new)
        pool.transfer(old, new)
    if anonymous and learner_pk:
        _adopt_learner(learner_pk, new)
    request.session[SESSION_KEY] = new


def _page(request: HttpRequest, template: str, form: BaseForm) -> HttpResponse:
    status = 400 if form.is_bound else 200
    return render(request, template, {"form": form, "next": _next(request)}, status=status)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Create an account; anonymous progress moves into it."""
    form = UserCreationForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        sign_in(request, form.save())
        return redirect(_next(request))
    return _page(request, "registration/signup.html", form)


@require_http_methods(["GET", "POST"])
def log_in(request: HttpRequest) -> HttpResponse:
    """Log in; progress made anonymously in this browser merges into the
    account. Wrong passwords are rate limited per address."""
    form = AuthenticationForm(request, data=request.POST if request.method == "POST" else None)
    if form.is_bound and ratelimit.blocked(LOGIN_SCOPE, request):
        return render(request, "registration/login.html", {
            "form": AuthenticationForm(request), "next": _next(request),
            "error": "Too many failed logins. Wait a few minutes, then try again."}, status=429)
    if form.is_bound and form.is_valid():
        sign_in(request, form.get_user())
        return redirect(_next(request))
    if form.is_bound:
        ratelimit.failed(LOGIN_SCOPE, request)
    return _page(request, "registration/login.html", form)


@require_POST
def log_out(request: HttpRequest) -> HttpResponse:
    """End the session; progress stays with the account for next time."""
    logout(request)
    return redirect(_next(request))
