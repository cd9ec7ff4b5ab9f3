"""Joining a workshop with its code, guarded against guessing.

Failed attempts are counted per client address in Django's cache; past the
limit, the form answers 429 until the window passes.
"""
from __future__ import annotations

from django.core.cache import cache

from labdeck.models import JOIN_ALPHABET, Workshop

MAX_FAILURES = 10
WINDOW = 300  # seconds


def normalise(code: str) -> str:
    """What a learner typed, as codes are stored: upper case, no spaces or dashes."""
    return code.strip().upper().replace(" ", "").replace("-", "")


def _key(address: str) -> str:
    return f"join-failures:{address}"


def blocked(address: str) -> bool:
    return cache.get(_key(address), 0) >= MAX_FAILURES


def find(code: str, address: str) -> Workshop | None:
    """The open workshop with this code; counts a failure when there is none."""
    code = normalise(code)
    workshop = None
    if code and all(c in JOIN_ALPHABET for c in code):
        workshop = Workshop.objects.filter(code=code).first()
    if workshop is None or not workshop.is_joinable():
        cache.add(_key(address), 0, WINDOW)
        try:
            cache.incr(_key(address))
        except ValueError:
            cache.set(_key(address), 1, WINDOW)
        return None
    return workshop
