"""JSON endpoints the learner page uses to get a sandbox and follow it."""
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from sandboxes import pool
from sandboxes.models import Sandbox
from sandboxes.owners import owner_group, owner_key, pool_group

# Status codes a script can rely on; the page reads "state" and "message".
HTTP_STATUS = {"ready": 200, "starting": 202, "queued": 202, "unavailable": 503, "failed": 500}


def _own_sandbox(request: HttpRequest) -> Sandbox | None:
    """The session's sandbox; never a pool one (owner "") for a session without a key."""
    return pool.current(owner_key(request.session, create=False) or "-")


def _describe(sandbox: Sandbox) -> dict:
    """A sandbox as the page sees it, with when the idle reaper would stop it,
    so that the page can warn the learner in time."""
    data = pool.Placement(sandbox.state, sandbox).to_dict()
    if sandbox.state == Sandbox.ASSIGNED:
        deadline = (sandbox.last_seen or sandbox.created_at) + timedelta(seconds=settings.LABDECK_SANDBOX_IDLE)
        # idle_in: seconds left by the server's clock, so that a browser
        # whose clock is off still warns in time.
        data.update(idle_deadline=deadline.isoformat(), warn_before=settings.LABDECK_IDLE_WARNING,
                    idle_in=round((deadline - timezone.now()).total_seconds(), 1))
    return data


@require_POST
def start(request: HttpRequest) -> JsonResponse:
    """Give the learner a sandbox, or a place in line. Safe to repeat."""
    owner = owner_key(request.session)
    placement = pool.safe_place(owner, pool_group(request.session))
    if placement.state == "ready":
        # The owner's other pages (the progress socket) follow it from now.
        async_to_sync(get_channel_layer().group_send)(owner_group(owner), {"type": "sandbox.assigned"})
    return JsonResponse(placement.to_dict(), status=HTTP_STATUS.get(placement.state, 200))


@require_GET
def status(request: HttpRequest) -> JsonResponse:
    """What the learner has now, without asking for anything new."""
    sandbox = _own_sandbox(request)
    if sandbox is None:
        return JsonResponse({"state": "none", "message": "No sandbox yet."})
    return JsonResponse(_describe(sandbox))


@require_POST
def extend(request: HttpRequest) -> JsonResponse:
    """"Keep my sandbox": restart its idle clock, as activity in its terminal does."""
    sandbox = _own_sandbox(request)
    if sandbox is None:
        return JsonResponse({"state": "none", "message": "You have no sandbox to keep."}, status=404)
    Sandbox.objects.filter(pk=sandbox.pk).update(last_seen=timezone.now())
    sandbox.refresh_from_db()
    return JsonResponse(_describe(sandbox))
