"""Making and unmaking sandboxes, and the reaper.

Every state change of a row goes through a conditional update, so two
processes (the web server and the pool keeper) never act twice on one
sandbox. The web processes only ever change rows (a learner's new sandbox is
a `starting` row, a reset or an End marks rows `stopping`); the pool keeper
does the slow work on the engine (start_pending, the reaper).
"""
from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from sandboxes.backends import BackendUnavailable, SandboxError, get_backend
from sandboxes.backends.base import GONE, HOST_RESTARTED, OUT_OF_MEMORY
from sandboxes.models import Sandbox, SandboxHost

log = logging.getLogger(__name__)


def _move(sandbox: Sandbox, from_states: tuple[str, ...], to: str, **fields) -> bool:
    """Change a sandbox's state only if it is still in one of from_states."""
    updated = Sandbox.objects.filter(pk=sandbox.pk, state__in=from_states).update(state=to, **fields)
    if updated:
        sandbox.state = to
        for key, value in fields.items():
            setattr(sandbox, key, value)
    return bool(updated)


def start(sandbox: Sandbox) -> Sandbox:
    """Create the backend sandbox for a row in `starting` and wait until it is ready.

    The row ends `ready` (pool) or `assigned` (it has an owner), or `gone`
    with a reason when the backend fails. Only one caller starts a row: the
    others return it as it is.
    """
    if not Sandbox.objects.filter(pk=sandbox.pk, state=Sandbox.STARTING, handle="").update(
            handle=sandbox.name, started_at=timezone.now()):
        sandbox.refresh_from_db()
        return sandbox
    backend = get_backend()
    try:
        sandbox.handle = backend.create(sandbox.name, {"org.labdeck.owner": sandbox.owner,
                                                       "org.labdeck.group": sandbox.group},
                                        sandbox.host, nodes=sandbox.nodes)
        Sandbox.objects.filter(pk=sandbox.pk).update(handle=sandbox.handle)
        backend.wait_ready(sandbox.handle, settings.LABDECK_READY_TIMEOUT)
    except (SandboxError, BackendUnavailable) as exc:
        log.warning("sandbox %s failed to start: %s", sandbox.name, exc)
        if sandbox.owner:
            Sandbox.objects.filter(pk=sandbox.pk).update(start_failed=True)
        stop(sandbox, str(exc)[:200])
        raise
    now = timezone.now()
    to = Sandbox.ASSIGNED if sandbox.owner else Sandbox.READY
    extra = {"assigned_at": now, "last_seen": now} if sandbox.owner else {}
    if not _move(sandbox, (Sandbox.STARTING,), to, ready_at=now, **extra):
        sandbox.refresh_from_db()
    return sandbox


def pending() -> list[Sandbox]:
    """Learners' sandboxes asked for and not being started yet (oldest first)."""
    return list(Sandbox.objects.filter(state=Sandbox.STARTING, handle="").exclude(owner="").order_by("created_at"))


def request_stop(sandbox: Sandbox, reason: str) -> bool:
    """Mark a sandbox for the keeper to remove (it reaps `stopping` rows):
    quick, so that a web process never waits for the engine."""
    return _move(sandbox, (Sandbox.STARTING, Sandbox.READY, Sandbox.ASSIGNED), Sandbox.STOPPING, reason=reason)


def stop(sandbox: Sandbox, reason: str, only_from: tuple[str, ...] = Sandbox.LIVE) -> bool:
    """Remove a sandbox from the backend and mark its row gone; repeatable.
    Nothing happens unless its row is still in one of only_from: a reason
    found in one state (starting too long, say) must not stop a sandbox that
    has moved on since (became ready and was assigned meanwhile). True if
    this call stopped it (its removal may still be retried)."""
    if not _move(sandbox, only_from, Sandbox.STOPPING, reason=reason):
        return False
    try:
        get_backend().destroy(sandbox.handle or sandbox.name)
    except BackendUnavailable:
        log.warning("sandbox %s: engine unavailable, will retry the removal", sandbox.name)
        return True
    _move(sandbox, (Sandbox.STOPPING,), Sandbox.GONE, stopped_at=timezone.now())
    return True


def due(now=None) -> list[tuple[Sandbox, str]]:
    """The sandboxes to stop, and why in the learner's words: marked
    `stopping`, past their lifetime, idle too long, stuck while starting, or
    no longer running on their host (see explain()). An assigned sandbox
    whose host restarted under it is returned with HOST_RESTARTED: the keeper
    brings it back (revive) rather than stopping it."""
    now = now or timezone.now()
    lifetime = timedelta(seconds=settings.LABDECK_SANDBOX_LIFETIME)
    idle = timedelta(seconds=settings.LABDECK_SANDBOX_IDLE)
    stuck = timedelta(seconds=2 * settings.LABDECK_READY_TIMEOUT)
    backend = get_backend()
    running: dict[str, set[str] | None] = {}  # per host; None: it did not answer
    found = []
    for sandbox in Sandbox.objects.filter(state__in=Sandbox.LIVE):
        reason = ""
        if sandbox.state == Sandbox.STOPPING:
            reason = sandbox.reason or "it was stopped"
        elif sandbox.expires_at and sandbox.expires_at <= now:
            reason = "its time was up"
        elif not sandbox.expires_at and sandbox.created_at + lifetime <= now:
            reason = f"it reached its lifetime of {_duration(lifetime)}"
        elif sandbox.state == Sandbox.ASSIGNED and (sandbox.last_seen or sandbox.created_at) + idle <= now:
            reason = f"it was idle for {_duration(idle)}"
        elif sandbox.state == Sandbox.STARTING and _stuck(sandbox, now - stuck):
            reason = "it did not start"
        elif sandbox.state in (Sandbox.READY, Sandbox.ASSIGNED):
            if sandbox.host not in running:  # one look at each host for all of its sandboxes
                try:
                    running[sandbox.host] = {m.name for m in backend.list_managed(sandbox.host) if m.running}
                except BackendUnavailable:
                    running[sandbox.host] = None  # that host's sandboxes wait for it (check_hosts)
            if running[sandbox.host] is not None and sandbox.name not in running[sandbox.host]:
                reason = _why_not_running(backend, sandbox)
        if reason:
            found.append((sandbox, reason))
    return found


def _stuck(sandbox: Sandbox, before) -> bool:
    """Whether a starting sandbox began to start before `before`. A
    learner's row still in line (not begun) waits its turn, however long;
    a row with no start time otherwise (a pool row whose keeper died before
    it began, or one begun before started_at existed) counts from its making."""
    if sandbox.started_at is not None:
        return sandbox.started_at <= before
    in_line = bool(sandbox.owner) and not sandbox.handle
    return not in_line and sandbox.created_at <= before


def _why_not_running(backend, sandbox: Sandbox) -> str:
    try:
        why = backend.poll(sandbox.handle or sandbox.name)
    except BackendUnavailable:
        return ""  # ask again next round
    if why is None:
        return ""  # it was starting again (revive) while we looked
    if why == HOST_RESTARTED and sandbox.state == Sandbox.ASSIGNED:
        return HOST_RESTARTED
    return explain(why)


def explain(why: str) -> str:
    """What poll() says of a sandbox that is not running, for the learner
    ("Your sandbox stopped because …") and the instructor's dashboard."""
    if why == OUT_OF_MEMORY:
        return f"it ran out of memory (a sandbox may use {_size(settings.LABDECK_SANDBOX_MEMORY)})"
    if why == HOST_RESTARTED:
        return "its host restarted"
    if why == GONE:
        return "it was removed from its host"
    return f"it was stopped on its host ({why})"


def _size(docker_size: str) -> str:
    """Docker's 512m or 1g as a person writes it."""
    number, unit = docker_size.rstrip("kmgKMG"), docker_size[-1:].lower()
    return f"{number} {dict(k='KiB', m='MiB', g='GiB').get(unit, 'bytes')}"


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes >= 60 and minutes % 60 == 0:
        return f"{minutes // 60} hours" if minutes > 60 else "1 hour"
    return f"{minutes} minutes" if minutes != 1 else "1 minute"


def revive(sandbox: Sandbox) -> bool:
    """Start again an assigned sandbox whose host restarted under it: its
    disk, with the inner engine's images, volumes and containers, is kept;
    what ran in it was stopped. False (and the sandbox stopped, with why)
    if it does not come back."""
    backend = get_backend()
    try:
        backend.restart(sandbox.handle)
        backend.wait_ready(sandbox.handle, settings.LABDECK_READY_TIMEOUT)
    except SandboxError as exc:
        log.warning("sandbox %s did not come back: %s", sandbox.name, exc)
        stop(sandbox, "its host restarted and it could not be started again")
        return False
    Sandbox.objects.filter(pk=sandbox.pk).update(last_seen=timezone.now())
    return True


def reap(now=None) -> list[str]:
    """Stop every sandbox that is due (see due()); their names."""
    reaped = []
    for sandbox, reason in due(now):
        # Only from the state the reason was found in: the row may have
        # moved on while the others were looked at.
        if stop(sandbox, reason, only_from=(sandbox.state,)):
            reaped.append(sandbox.name)
    return reaped


def reap_orphans() -> list[str]:
    """Remove backend sandboxes carrying our labels that have no live row."""
    live = set(Sandbox.objects.filter(state__in=Sandbox.LIVE).values_list("name", flat=True))
    backend = get_backend()
    orphans = []
    for host in backend.hosts():
        try:
            managed = backend.list_managed(host.name)
        except BackendUnavailable:
            continue
        for sandbox in managed:
            if sandbox.name not in live:
                log.info("removing orphan sandbox %s", sandbox.handle)
                backend.destroy(sandbox.handle)
                orphans.append(sandbox.name)
    return orphans


def check_hosts(now=None) -> list[Sandbox]:
    """Ping every sandbox host and note which answer. The live sandboxes of
    a host that has not answered for LABDECK_HOST_LOST_AFTER seconds are
    given up (their rows gone, with why); return them, so that their
    learners can be told."""
    now = now or timezone.now()
    lost = []
    backend = get_backend()
    for host in backend.hosts():
        row, _ = SandboxHost.objects.get_or_create(name=host.name)
        try:
            backend.ping_host(host.name)
        except BackendUnavailable:
            down_since = row.down_since or now
            SandboxHost.objects.filter(pk=row.pk).update(down_since=down_since, checked_at=now)
            if len(backend.hosts()) > 1 and now - down_since >= timedelta(seconds=settings.LABDECK_HOST_LOST_AFTER):
                lost += _give_up(host.name, now)
            continue
        SandboxHost.objects.filter(pk=row.pk).update(down_since=None, checked_at=now)
    return lost


def _give_up(host: str, now) -> list[Sandbox]:
    given_up = []
    for sandbox in Sandbox.objects.filter(host=host, state__in=Sandbox.LIVE):
        if _move(sandbox, Sandbox.LIVE, Sandbox.GONE, stopped_at=now, reason="its sandbox host stopped answering"):
            given_up.append(sandbox)
    return given_up
