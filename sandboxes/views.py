"""JSON endpoints the learner page uses to get a sandbox and follow it."""
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from sandboxes import pool
from sandboxes.owners import owner_key

# Status codes a script can rely on; the page reads "state" and "message".
HTTP_STATUS = {"ready": 200, "starting": 202, "queued": 202, "unavailable": 503, "failed": 500}


@require_POST
def start(request: HttpRequest) -> JsonResponse:
    """Give the learner a sandbox, or a place in line. Safe to repeat."""
    placement = pool.safe_place(owner_key(request.session))
    return JsonResponse(placement.to_dict(), status=HTTP_STATUS.get(placement.state, 200))


@require_GET
def status(request: HttpRequest) -> JsonResponse:
    """What the learner has now, without asking for anything new."""
    sandbox = pool.current(owner_key(request.session, create=False) or "-")
    if sandbox is None:
        return JsonResponse({"state": "none", "message": "No sandbox yet."})
    return JsonResponse(pool.Placement(sandbox.state, sandbox).to_dict())
