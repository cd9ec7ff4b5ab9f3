"""Who may open a preview: its owner, or anyone with a share link until it
is revoked.

The preview origin never reads the site's session (its cookie is host-only
and never sent there). The owner comes through a one-time redirect instead:
the site's view checks the learner's session and hands out a ticket (in the
cache, for a minute, good once), which the preview origin trades for a cookie
of its own. A share link's token is traded the same way. That cookie is
host-only (one preview), HttpOnly (the app's scripts cannot read it),
SameSite=Lax, signed, and names the preview and either the owner (a digest of
their key) or the share link. Every request checks it against the database:
the sandbox is still assigned to that owner, or the link is not revoked, so a
revocation stops it at once.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from channels.db import database_sync_to_async
from django.core import signing
from django.core.cache import cache

from previews.hosts import Preview
from previews.models import PreviewShare
from sandboxes.models import Sandbox

SALT = "labdeck.previews.cookie"
COOKIE = "labdeck_preview"
COOKIE_AGE = 12 * 3600
TICKET_AGE = 60
# Paths of the preview origin that Labdeck answers itself.
ENTER = "/.labdeck/enter/"
SHARE = "/.labdeck/share/"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_TICKET = re.compile(r"[0-9a-f]{32}\.[A-Za-z0-9_-]{32}")
# Cookies of our name looked at per request: a sibling preview's script can
# add some (with a parent Domain), never remove ours.
MAX_TRIED = 4


def owned(public_id, owner: str) -> tuple[Sandbox | None, str]:
    """The owner's assigned sandbox of that public id, or why not:
    "not-found" or "forbidden". The one place previews decide ownership."""
    sandbox = Sandbox.objects.filter(public_id=public_id).exclude(state=Sandbox.GONE).first()
    if sandbox is None or sandbox.state != Sandbox.ASSIGNED:
        return None, "not-found"
    if not owner or sandbox.owner != owner:
        return None, "forbidden"
    return sandbox, ""


def share_url(preview: Preview, token: str, secure: bool) -> str:
    return f"{preview.origin(secure)}{SHARE}{token}"


def cookie_name(secure: bool) -> str:
    """Over HTTPS the __Host- prefix makes the browser refuse the cookie
    unless it is host-only, Secure and for Path=/."""
    return f"__Host-{COOKIE}" if secure else COOKIE


def set_cookie_header(value: str, secure: bool) -> bytes:
    parts = [f"{cookie_name(secure)}={value}", "Path=/", "HttpOnly", "SameSite=Lax", f"Max-Age={COOKIE_AGE}"]
    return "; ".join(parts + (["Secure"] if secure else [])).encode()


def digest(owner: str) -> str:
    return hashlib.sha256(owner.encode()).hexdigest()[:32]


def _grant(preview: Preview, **who: str | int) -> str:
    return signing.dumps({"l": preview.label, **who}, salt=SALT)


def new_ticket(preview: Preview, owner: str) -> str:
    """A one-time ticket for the owner's redirect to their preview. One per
    owner at a time (a new one replaces it), so that no amount of clicking
    fills the cache, whose other entries (the join rate limit) must stay."""
    who = digest(owner)
    token = f"{who}.{secrets.token_urlsafe(24)}"
    cache.set(f"labdeck:preview-ticket:{who}", {"token": token, "label": preview.label}, TICKET_AGE)
    return token


async def take_ticket(token: str, preview: Preview) -> str | None:
    """The cookie a ticket buys, once; None if it is unknown, used or old."""
    who, _, _ = token.partition(".")
    if not _TICKET.fullmatch(token):
        return None
    key = f"labdeck:preview-ticket:{who}"
    ticket = await cache.aget(key)
    if not isinstance(ticket, dict) or not hmac.compare_digest(ticket.get("token", ""), token) \
            or ticket.get("label") != preview.label:
        return None
    # Only the caller whose delete removed it may use it.
    return _grant(preview, o=who) if await cache.adelete(key) else None


@database_sync_to_async
def _live_share(token: str, preview: Preview) -> int | None:
    return PreviewShare.objects.filter(
        token=token, port=preview.port, revoked_at__isnull=True,
        sandbox__public_id=preview.sandbox, sandbox__state=Sandbox.ASSIGNED,
    ).values_list("pk", flat=True).first()


async def take_share(token: str, preview: Preview) -> str | None:
    """The cookie a share link gives; None if the link is revoked or unknown."""
    share = await _live_share(token, preview) if _TOKEN.fullmatch(token) else None
    return _grant(preview, s=share) if share else None


def cookie_values(headers: list[tuple[bytes, bytes]], name: str) -> list[str]:
    """Every value of the cookie `name` in a request's Cookie headers."""
    found = []
    for key, value in headers:
        if key == b"cookie":
            for pair in value.decode("latin-1").split(";"):
                cookie, _, content = pair.strip().partition("=")
                if cookie == name:
                    found.append(content)
    return found


def without_cookie(value: bytes) -> bytes:
    """A Cookie header less the preview's own cookie (either name), for the
    learner's app."""
    names = {cookie_name(False), cookie_name(True)}
    pairs = [p.strip() for p in value.decode("latin-1").split(";")]
    return "; ".join(p for p in pairs if p and p.partition("=")[0] not in names).encode("latin-1")


def _grants(preview: Preview, values: list[str]) -> list[dict]:
    grants = []
    for value in values[:MAX_TRIED]:
        try:
            grant = signing.loads(value, salt=SALT, max_age=COOKIE_AGE)
        except signing.BadSignature:
            continue
        if isinstance(grant, dict) and grant.get("l") == preview.label:
            grants.append(grant)
    return grants


@database_sync_to_async
def _allowed_handle(preview: Preview, grants: list[dict]) -> str | None:
    sandbox = Sandbox.objects.filter(public_id=preview.sandbox, state=Sandbox.ASSIGNED) \
        .values_list("pk", "handle", "owner").first()
    if sandbox is None:
        return None
    pk, handle, owner = sandbox
    for grant in grants:
        if isinstance(grant.get("o"), str) and owner and hmac.compare_digest(grant["o"], digest(owner)):
            return handle
        if isinstance(grant.get("s"), int) and PreviewShare.objects.filter(
                pk=grant["s"], sandbox_id=pk, port=preview.port, revoked_at__isnull=True).exists():
            return handle
    return None


async def authorize(preview: Preview, values: list[str]) -> str | None:
    """The handle of the preview's sandbox if one of these cookie values
    still opens it, else None."""
    grants = _grants(preview, values)
    return await _allowed_handle(preview, grants) if grants else None
