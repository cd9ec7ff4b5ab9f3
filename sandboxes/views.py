"""JSON endpoints the learner page uses to get a sandbox and follow it, and
to move files in and out of it (sandboxes/files.py has the path rules)."""
import functools
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sandboxes import files, pool
from sandboxes.backends import BackendUnavailable, SandboxError, get_backend
from sandboxes.models import Sandbox
from sandboxes.owners import owner_group, owner_key, pool_group

# Status codes a script can rely on; the page reads "state" and "message".
HTTP_STATUS = {"ready": 200, "starting": 202, "queued": 202, "unavailable": 503, "failed": 500, "other-nodes": 409}


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
def start(request: HttpRequest, nodes: int = 1) -> JsonResponse:
    """Give the learner a sandbox of ``nodes`` machines, or a place in line.
    Safe to repeat. A course of several machines passes its count
    (lessons.views.course_sandbox). A learner whose sandbox has another
    number of machines is asked first; POST replace=1 gives it up for a new one."""
    owner = owner_key(request.session)
    placement = pool.safe_place(owner, pool_group(request.session), nodes,
                                replace=request.POST.get("replace") == "1")
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


# -- the learner's own files ---------------------------------------------------


class _Answer(Exception):
    """A refusal that ends a files view with this JSON answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.response = JsonResponse({"state": "refused", "message": message}, status=status)


def _ready_sandbox(request: HttpRequest) -> Sandbox:
    """The session's own sandbox, ready: the terminal's ownership rule (the
    session's owner key and the Sandbox row), so no other learner's is reachable."""
    sandbox = _own_sandbox(request)
    if sandbox is None:
        raise _Answer(404, "You have no sandbox yet: start one first.")
    if sandbox.state != Sandbox.ASSIGNED:
        raise _Answer(409, "Your sandbox is still starting: try again in a moment.")
    # Moving files is activity, as typing is: the idle reaper waits.
    Sandbox.objects.filter(pk=sandbox.pk).update(last_seen=timezone.now())
    return sandbox


def _path(request: HttpRequest) -> str:
    """?path=..., or ?name=... (a dropped file) in ?dir=... (the home if empty)."""
    try:
        if "name" in request.GET:
            return files.upload_path(request.GET.get("dir", ""), request.GET["name"])
        return files.sandbox_path(request.GET.get("path", ""))
    except files.Refused as exc:
        raise _Answer(400, str(exc)) from exc


T = TypeVar("T")


def _call(call: Callable[[], T]) -> T:
    """A backend call (each is bounded in time and bytes), its errors as answers."""
    try:
        return call()
    except BackendUnavailable as exc:
        raise _Answer(503, "The sandbox host is unavailable: try again in a moment.") from exc
    except SandboxError as exc:
        raise _Answer(409, str(exc)) from exc


def _answers(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    @functools.wraps(view)
    def answered(request: HttpRequest) -> HttpResponse:
        try:
            return view(request)
        except _Answer as answer:
            return answer.response

    return answered


@require_http_methods(["GET", "POST"])
@_answers
def sandbox_files(request: HttpRequest) -> HttpResponse:
    """GET: a file of the learner's sandbox, as a download. POST: the
    request's body (application/octet-stream) becomes a file there."""
    sandbox = _ready_sandbox(request)
    path = _path(request)
    if request.method == "POST":
        return _upload(request, sandbox, path)
    limit = settings.LABDECK_DOWNLOAD_LIMIT
    data = _call(lambda: get_backend().read_file(sandbox.handle, path, limit + 1))
    if data is None:
        raise _Answer(404, f"There is no file at {path} (a directory, a link or a device is not one).")
    if len(data) > limit:
        raise _Answer(413, files.too_large(path, limit, "a download"))
    response = HttpResponse(data, content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(True, files.download_name(path))
    # Whatever the file holds, it is never a page of this site.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "no-store"
    return response


def _upload(request: HttpRequest, sandbox: Sandbox, path: str) -> JsonResponse:
    """Read at most the cap (sandboxes/bodylimit.py refuses a larger body
    before Django buffers it; request.body, with Django's own
    DATA_UPLOAD_MAX_MEMORY_SIZE, is never touched) and write it through the
    backend, never through a program of the sandbox."""
    if request.content_type != "application/octet-stream":
        raise _Answer(415, "Send the file as application/octet-stream.")
    limit = settings.LABDECK_UPLOAD_LIMIT
    data = request.read(limit + 1)
    if len(data) > limit:
        raise _Answer(413, files.too_large(path, limit))
    _call(lambda: get_backend().write_file(sandbox.handle, path, data))
    return JsonResponse({"state": "saved", "path": path, "size": len(data),
                         "message": f"Saved {path} ({files.human_size(len(data))})."})


@require_GET
@_answers
def sandbox_file_text(request: HttpRequest) -> JsonResponse:
    """A file of the sandbox for the editor, as text; a new file if there is none."""
    sandbox = _ready_sandbox(request)
    path = _path(request)
    limit = min(files.EDITOR_LIMIT, settings.LABDECK_UPLOAD_LIMIT)
    data = _call(lambda: get_backend().read_file(sandbox.handle, path, limit + 1))
    if data is None:
        return JsonResponse({"state": "new", "path": path, "text": "",
                             "message": f"{path} is a new file: Save creates it."})
    if len(data) > limit:
        raise _Answer(413, files.too_large(path, limit, "the editor"))
    text = files.as_text(data)
    if text is None:
        raise _Answer(415, f"{path} is not text (it is binary, or not UTF-8): download it instead.")
    return JsonResponse({"state": "opened", "path": path, "text": text, "message": ""})
