"""The site's side of previews: the one-time redirect that opens one, and
share links made and revoked. Only the sandbox's owner gets any of them."""
from __future__ import annotations

import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from previews import access, hosts
from previews.consumers import shares_group
from previews.models import PreviewShare
from sandboxes.models import Sandbox
from sandboxes.owners import owner_key


def _own_preview(request: HttpRequest, sandbox_id: uuid.UUID, port: int) -> tuple[Sandbox, hosts.Preview]:
    if not hosts.enabled() or not hosts.valid_port(port):
        raise Http404("No such preview")
    sandbox, problem = access.owned(sandbox_id, owner_key(request.session, create=False))
    if problem == "not-found":
        raise Http404("No such sandbox")
    if problem:
        raise PermissionDenied("This sandbox belongs to someone else.")
    return sandbox, hosts.Preview(sandbox.public_id, port)


@require_GET
def open_preview(request: HttpRequest, sandbox_id: uuid.UUID, port: int) -> HttpResponse:
    """To the preview's origin with a one-time ticket, which it trades for a
    cookie of its own: the learner's session never leaves the site."""
    sandbox, preview = _own_preview(request, sandbox_id, port)
    ticket = access.new_ticket(preview, sandbox.owner)
    response = redirect(f"{preview.origin(request.is_secure())}{access.ENTER}{ticket}")
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _shared(request: HttpRequest, sandbox: Sandbox, preview: hosts.Preview, token: str | None) -> JsonResponse:
    async_to_sync(get_channel_layer().group_send)(shares_group(sandbox.public_id), {"type": "previews.shared"})
    url = access.share_url(preview, token, request.is_secure()) if token else None
    return JsonResponse({"port": preview.port, "share_url": url})


@require_POST
def share(request: HttpRequest, sandbox_id: uuid.UUID, port: int) -> JsonResponse:
    """A link that opens the preview to anyone who has it, until revoked."""
    sandbox, preview = _own_preview(request, sandbox_id, port)
    return _shared(request, sandbox, preview, PreviewShare.share(sandbox, port))


@require_POST
def unshare(request: HttpRequest, sandbox_id: uuid.UUID, port: int) -> JsonResponse:
    """Revoke the port's link: its next request, and its open connections
    within a few seconds, are refused."""
    sandbox, preview = _own_preview(request, sandbox_id, port)
    PreviewShare.revoke(sandbox, port)
    return _shared(request, sandbox, preview, None)
