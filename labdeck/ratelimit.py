"""Failed attempts counted per client address, against guessing join codes
and passwords.

Counts live in Django's cache (Redis when REDIS_URL is set, so that every
web process counts together); past the limit, the form answers 429 until the
window passes. While the cache is down (Redis restarting) nothing is
counted and nobody is blocked: a room joining must not fail on a counter.
"""
from __future__ import annotations

import logging

from django.core.cache import cache
from django.http import HttpRequest
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

MAX_FAILURES = 10
WINDOW = 300  # seconds


def _key(scope: str, request: HttpRequest) -> str:
    return f"failures:{scope}:{request.META.get('REMOTE_ADDR', '')}"


def blocked(scope: str, request: HttpRequest) -> bool:
    try:
        return cache.get(_key(scope, request), 0) >= MAX_FAILURES
    except RedisError as exc:
        log.warning("rate limit not checked, the cache is down: %s", exc)
        return False


def failed(scope: str, request: HttpRequest) -> None:
    key = _key(scope, request)
    try:
        cache.add(key, 0, WINDOW)
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, WINDOW)
    except RedisError as exc:
        log.warning("failed attempt not counted, the cache is down: %s", exc)
