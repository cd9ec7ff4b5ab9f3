"""Joining a workshop with its code, guarded against guessing
(labdeck.ratelimit counts the wrong codes)."""
from __future__ import annotations

from django.http import HttpRequest

from labdeck import ratelimit
from labdeck.models import JOIN_ALPHABET, Workshop

SCOPE = "join"


def normalise(code: str) -> str:
    """What a learner typed, as codes are stored: upper case, no spaces or dashes."""
    return code.strip().upper().replace(" ", "").replace("-", "")


def blocked(request: HttpRequest) -> bool:
    return ratelimit.blocked(SCOPE, request)


def find(code: str, request: HttpRequest) -> Workshop | None:
    """The open workshop with this code; counts a failure when there is none."""
    code = normalise(code)
    workshop = None
    if code and all(c in JOIN_ALPHABET for c in code):
        workshop = Workshop.objects.filter(code=code).first()
    if workshop is None or not workshop.is_joinable():
        ratelimit.failed(SCOPE, request)
        return None
    return workshop
