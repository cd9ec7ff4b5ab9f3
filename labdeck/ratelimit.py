"""Failed attempts counted per client address, against guessing join codes
and passwords.

Counts live in Django's cache (Redis when REDIS_URL is set, so that every
web process counts together); past the limit, the form answers 429 until the
window passes.
"""
from __future__ import annotations

from django.core.cache import cache
from django.http import HttpRequest

MAX_FAILURES = 10
WINDOW = 300  # seconds


def _key(scope: str, request: HttpRequest) -> str:
    return f"failures:{scope}:{request.META.get('REMOTE_ADDR', '')}"


def blocked(scope: str, request: HttpRequest) -> bool:
    return cache.get(_key(scope, request), 0) >= MAX_FAILURES


def failed(scope: str, request: HttpRequest) -> None:
    key = _key(scope, request)
    cache.add(key, 0, WINDOW)
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, WINDOW)
