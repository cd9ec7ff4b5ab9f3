"""The warm pool, atomic claims, and the line of waiting learners.

A learner gets, in this order: the sandbox they already have, a ready one
from the pool, a new one if capacity allows, or a place in line.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from sandboxes import lifecycle
from sandboxes.backends import BackendUnavailable, SandboxError, get_backend
from sandboxes.models import Sandbox, WaitingLearner

log = logging.getLogger(__name__)

# A waiting learner who has not asked for news for this long has left.
QUEUE_STALE = timedelta(seconds=30)


@dataclass
class Placement:
    """What a learner has right now: a sandbox, a place in line, or nothing."""

    state: str
    sandbox: Sandbox | None = None
    position: int = 0
    message: str = ""

    def to_dict(self) -> dict:
        data = self.sandbox.to_dict() if self.sandbox else {}
        data.update(state=self.state, position=self.position, message=self.message)
        return data


def claim(owner: str) -> Sandbox | None:
    """Give the oldest ready pool sandbox to owner; two callers never share one."""
    now = timezone.now()
    ready = Sandbox.objects.filter(state=Sandbox.READY, owner="").order_by("ready_at")
    for pk in ready.values_list("pk", flat=True)[:8]:
        if Sandbox.objects.filter(pk=pk, state=Sandbox.READY, owner="").update(
            state=Sandbox.ASSIGNED, owner=owner, assigned_at=now, last_seen=now
        ):
            return Sandbox.objects.get(pk=pk)
    return None


def _capacity_lock() -> None:
    """Serialise capacity decisions across processes.

    SQLite already runs each transaction with the write lock held
    (transaction_mode IMMEDIATE); PostgreSQL needs an advisory lock.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(7410001)")


def reserve(owner: str) -> Sandbox | None:
    """Create a `starting` row for owner if the capacity allows one more."""
    with transaction.atomic():
        _capacity_lock()
        if Sandbox.objects.filter(state__in=Sandbox.LIVE).count() >= settings.LABDECK_MAX_SANDBOXES:
            return None
        return Sandbox.objects.create(owner=owner)


def current(owner: str) -> Sandbox | None:
    return Sandbox.objects.filter(owner=owner, state__in=(Sandbox.STARTING, Sandbox.ASSIGNED)).first()


def place(owner: str) -> Placement:
    """Find or make a sandbox for owner, or put them in line. Idempotent."""
    sandbox = current(owner)
    if sandbox:
        Sandbox.objects.filter(pk=sandbox.pk).update(last_seen=timezone.now())
        return Placement(sandbox.state if sandbox.state == Sandbox.STARTING else "ready", sandbox)
    WaitingLearner.objects.filter(last_poll__lt=timezone.now() - QUEUE_STALE).delete()
    waiting = WaitingLearner.objects.filter(owner=owner).first()
    ahead = waiting.position() - 1 if waiting else WaitingLearner.objects.count()
    if ahead == 0:
        sandbox = claim(owner)
        if sandbox is None:
            get_backend().ping()
            sandbox = reserve(owner)
        if sandbox:
            WaitingLearner.objects.filter(owner=owner).delete()
            if sandbox.state == Sandbox.STARTING:
                lifecycle.start(sandbox)
            return Placement("ready", sandbox)
    waiting, _ = WaitingLearner.objects.get_or_create(owner=owner)
    WaitingLearner.objects.filter(pk=waiting.pk).update(last_poll=timezone.now())
    position = waiting.position()
    message = f"All sandboxes are in use. You are number {position} in line."
    return Placement("queued", position=position, message=message)


def safe_place(owner: str) -> Placement:
    """place(), turning a dead worker into a message instead of an error."""
    try:
        return place(owner)
    except BackendUnavailable:
        return Placement("unavailable", message="The sandbox host is unavailable. Please try again in a moment.")
    except SandboxError as exc:
        return Placement("failed", message=f"Your sandbox could not start: {exc}")


def fill() -> int:
    """Start sandboxes until the pool holds LABDECK_POOL_SIZE unclaimed ones."""
    pooled = Sandbox.objects.filter(owner="", state__in=(Sandbox.STARTING, Sandbox.READY)).count()
    started = 0
    for _ in range(max(0, settings.LABDECK_POOL_SIZE - pooled)):
        sandbox = reserve("")
        if sandbox is None:
            break
        try:
            lifecycle.start(sandbox)
        except (SandboxError, BackendUnavailable):
            break
        started += 1
    return started


def release(owner: str, reason: str = "released") -> None:
    """Give up owner's sandbox (e.g. a reset): it is removed, not reused."""
    sandbox = current(owner)
    if sandbox:
        lifecycle.stop(sandbox, reason)
