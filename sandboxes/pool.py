"""The warm pool, atomic claims, and the line of waiting learners.

A learner gets, in this order: the sandbox they already have, a ready one
from the pool, a new one if capacity allows, or a place in line. Nothing here
waits for the engine: a new sandbox is a `starting` row that the pool keeper
starts (lifecycle.start_pending), and giving one up marks it for the keeper.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone

from sandboxes import lifecycle
from sandboxes.backends import BackendUnavailable, SandboxError, get_backend
from sandboxes.models import PoolTarget, Sandbox, SandboxHost, WaitingLearner

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


def claim(owner: str, group: str = "", nodes: int = 1) -> Sandbox | None:
    """Give the oldest ready sandbox (of that many nodes) of the group's pool
    (then the site's) to owner; two callers never share one."""
    now = timezone.now()
    for pool_group in dict.fromkeys((group, "")):
        ready = Sandbox.objects.filter(state=Sandbox.READY, owner="", group=pool_group,
                                       nodes=nodes).order_by("ready_at")
        for pk in ready.values_list("pk", flat=True)[:8]:
            if Sandbox.objects.filter(pk=pk, state=Sandbox.READY, owner="").update(
                state=Sandbox.ASSIGNED, owner=owner, group=group, assigned_at=now, last_seen=now
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


def machines(sandboxes: QuerySet[Sandbox]) -> int:
    """How many machines these sandboxes take: a node set counts each node."""
    return sandboxes.aggregate(total=Sum("nodes"))["total"] or 0


def place_on(host: str | None = None, nodes: int = 1) -> str | None:
    """The host for one more sandbox of that many nodes (a set stays on one
    host): that host if it has room, else the one that answers and has the
    most room left; None when none has enough."""
    down = set(SandboxHost.objects.filter(down_since__isnull=False).values_list("name", flat=True))
    used = dict(Sandbox.objects.filter(state__in=Sandbox.LIVE).values_list("host").annotate(Sum("nodes")))
    room = {h.name: h.capacity - (used.get(h.name) or 0) for h in get_backend().hosts() if h.name not in down}
    if host is not None:
        return host if room.get(host, 0) >= nodes else None
    best = max(sorted(room), key=lambda name: room[name], default=None)
    return best if best is not None and room[best] >= nodes else None


def reserve(owner: str, group: str = "", limit: int = 0, host: str | None = None, nodes: int = 1) -> Sandbox | None:
    """Create a `starting` row for owner if the site's capacity, the group's
    limit when it has one, and a host's room allow one more (capacity counts
    machines, so a node set of three takes three; a group's limit counts
    learners)."""
    with transaction.atomic():
        _capacity_lock()
        live = Sandbox.objects.filter(state__in=Sandbox.LIVE)
        if machines(live) + nodes > settings.LABDECK_MAX_SANDBOXES:
            return None
        if limit and live.filter(group=group).count() >= limit:
            return None
        chosen = place_on(host, nodes)
        if chosen is None:
            return None
        return Sandbox.objects.create(owner=owner, group=group, host=chosen, nodes=nodes)


def _limit(group: str) -> int:
    target = PoolTarget.objects.filter(group=group).first() if group else None
    return target.limit if target else 0


def current(owner: str) -> Sandbox | None:
    return Sandbox.objects.filter(owner=owner, state__in=(Sandbox.STARTING, Sandbox.ASSIGNED)).first()


def place(owner: str, group: str = "", nodes: int = 1, replace: bool = False) -> Placement:
    """Find or make a sandbox of that many nodes for owner, or put them in
    line. Idempotent.

    A learner has one sandbox at a time. If theirs has another number of
    nodes than the course asks for, they are asked first ("other-nodes"):
    with replace, it is given up and a new one made.

    A group (a workshop) with a limit of its own is full when that many of
    its sandboxes are in use: its learners then wait in the group's line.
    """
    sandbox = current(owner)
    if sandbox and sandbox.nodes != nodes:
        if not replace:
            return Placement("other-nodes", sandbox, message=_other_nodes(sandbox.nodes, nodes))
        lifecycle.request_stop(sandbox, f"replaced by a sandbox of {_machines(nodes)}")
        sandbox = None
    if sandbox:
        Sandbox.objects.filter(pk=sandbox.pk).update(last_seen=timezone.now())
        return Placement(sandbox.state if sandbox.state == Sandbox.STARTING else "ready", sandbox)
    failed = Sandbox.objects.filter(owner=owner, start_failed=True).order_by("-created_at").first()
    if failed is not None and Sandbox.objects.filter(pk=failed.pk, start_failed=True).update(start_failed=False):
        return Placement("failed", message=f"Your sandbox could not start: {failed.reason}")
    WaitingLearner.objects.filter(last_poll__lt=timezone.now() - QUEUE_STALE).delete()
    waiting = WaitingLearner.objects.filter(owner=owner).first()
    ahead = waiting.position() - 1 if waiting else WaitingLearner.objects.filter(group=group).count()
    limit = _limit(group)
    in_use = Sandbox.objects.filter(group=group, state__in=Sandbox.LIVE).exclude(owner="").count() if limit else 0
    if ahead == 0 and not (limit and in_use >= limit):
        sandbox = claim(owner, group, nodes)
        if sandbox is None:
            get_backend().ping()
            sandbox = reserve(owner, group, limit, nodes=nodes)
        if sandbox:
            WaitingLearner.objects.filter(owner=owner).delete()
            if sandbox.state == Sandbox.STARTING:
                return Placement("starting", sandbox, message="Your sandbox is starting.")
            return Placement("ready", sandbox)
    waiting, _ = WaitingLearner.objects.get_or_create(owner=owner, defaults={"group": group})
    WaitingLearner.objects.filter(pk=waiting.pk).update(last_poll=timezone.now())
    position = waiting.position()
    message = f"All sandboxes are in use. You are number {position} in line."
    return Placement("queued", position=position, message=message)


def _machines(nodes: int) -> str:
    return "one machine" if nodes == 1 else f"{nodes} machines"


def _other_nodes(has: int, wants: int) -> str:
    return (f"This course needs a sandbox of {_machines(wants)}; yours has {_machines(has)}. "
            "Start a new one for it: your current sandbox and its files will be removed.")


def safe_place(owner: str, group: str = "", nodes: int = 1, replace: bool = False) -> Placement:
    """place(), turning a dead worker into a message instead of an error."""
    try:
        return place(owner, group, nodes, replace)
    except BackendUnavailable:
        return Placement("unavailable", message="The sandbox host is unavailable. Please try again in a moment.")
    except SandboxError as exc:
        return Placement("failed", message=f"Your sandbox could not start: {exc}")


# Sandboxes started per group and round: the keeper's loop stays responsive
# (reaping, other groups) while a workshop of 60 warms up.
START_PER_ROUND = 4


Starter = Callable[[Sandbox], object]


def _start_unclaimed(group: str, count: int, limit: int, start: Starter, host: str | None = None,
                     nodes: int = 1) -> int:
    started = 0
    for _ in range(min(count, START_PER_ROUND)):
        sandbox = reserve("", group, limit, host, nodes)
        if sandbox is None:
            break
        try:
            start(sandbox)
        except (SandboxError, BackendUnavailable):
            break
        started += 1
    return started


def group_counts(group: str) -> dict[str, int]:
    """How a group's sandboxes stand: unclaimed starting and ready, in use."""
    live = Sandbox.objects.filter(group=group, state__in=(Sandbox.STARTING, Sandbox.READY, Sandbox.ASSIGNED))
    return {
        "starting": live.filter(owner="", state=Sandbox.STARTING).count(),
        "ready": live.filter(owner="", state=Sandbox.READY).count(),
        "in_use": live.exclude(owner="").count(),
    }


def fill(start: Starter = lifecycle.start) -> int:
    """Start sandboxes until the site's pool holds LABDECK_POOL_SIZE unclaimed
    ones and every active group has its `initial` and `reserved` ones. The
    keeper passes a start that hands the work to its threads."""
    unclaimed = Sandbox.objects.filter(owner="", group="", state__in=(Sandbox.STARTING, Sandbox.READY))
    started = 0
    for host in get_backend().hosts():  # the site's pool is kept per host
        pooled = unclaimed.filter(host=host.name, nodes=1).count()
        started += _start_unclaimed("", settings.LABDECK_POOL_SIZE - pooled, 0, start, host.name)
    for nodes, count in settings.LABDECK_POOL_NODE_SETS.items():  # whole node sets, on any host
        pooled = unclaimed.filter(nodes=nodes).count()
        started += _start_unclaimed("", count - pooled, 0, start, nodes=nodes)
    now = timezone.now()
    for target in PoolTarget.objects.all():
        if not target.is_active(now):
            continue
        counts = group_counts(target.group)
        unclaimed = counts["starting"] + counts["ready"]
        wanted = max(target.reserved, target.initial - counts["in_use"])
        started += _start_unclaimed(target.group, wanted - unclaimed, target.limit, start, nodes=target.nodes)
    return started


def end_group(group: str, reason: str = "workshop ended") -> int:
    """Mark every sandbox of a group for the keeper to reap and forget its
    pool; progress is not touched. Returns how many sandboxes will stop."""
    PoolTarget.objects.filter(group=group).delete()
    WaitingLearner.objects.filter(group=group).delete()
    return sum(lifecycle.request_stop(sandbox, reason)
               for sandbox in Sandbox.objects.filter(group=group, state__in=Sandbox.LIVE))


def end_finished_groups(now=None) -> list[str]:
    """End the groups whose `active_until` has passed."""
    now = now or timezone.now()
    ended = list(PoolTarget.objects.filter(active_until__lte=now).values_list("group", flat=True))
    for group in ended:
        end_group(group)
    return ended


def transfer(old_owner: str, new_owner: str) -> None:
    """Hand old_owner's sandbox to new_owner (e.g. at sign-up), unless the
    new owner already has one."""
    if old_owner and old_owner != new_owner and current(new_owner) is None:
        Sandbox.objects.filter(owner=old_owner, state__in=(Sandbox.STARTING, Sandbox.ASSIGNED)).update(owner=new_owner)


def extend(owner: str, seconds: int) -> Sandbox | None:
    """Give owner's sandbox `seconds` more of life, past its lifetime too,
    and count it as active now."""
    sandbox = current(owner)
    if sandbox is None:
        return None
    now = timezone.now()
    deadline = sandbox.expires_at or sandbox.created_at + timedelta(seconds=settings.LABDECK_SANDBOX_LIFETIME)
    Sandbox.objects.filter(pk=sandbox.pk).update(expires_at=max(now, deadline) + timedelta(seconds=seconds),
                                                 last_seen=now)
    sandbox.refresh_from_db()
    return sandbox


def release(owner: str, reason: str = "released") -> None:
    """Give up owner's sandbox (e.g. a reset): the keeper removes it, and it
    is never reused."""
    sandbox = current(owner)
    if sandbox:
        lifecycle.request_stop(sandbox, reason)
