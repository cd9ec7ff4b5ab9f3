"""The preview origin: an ASGI application in front of the site.

Every request whose Host names a preview (previews.hosts) comes here before
Django and Channels, so nothing of the site runs on a preview origin and the
site's session is never read there. Here are the two doors that hand out the
preview's own cookie (a ticket from the site, a share link), the check of
that cookie on every other request, and then one relay per proxied
connection to the learner's app: `socat - TCP:127.0.0.1:PORT` started in the
sandbox through the backend (open_relay_async). No new network path, the
sandboxes' firewall unchanged, the same on every backend and sandbox host.
"""
from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable

import h11
from django.conf import settings
from websockets.exceptions import WebSocketException

from previews import access, hosts, limits
from previews.http import Receive, Reply, Send, exchange, first_of
from previews.websocket import AppSocket
from sandboxes.backends import BackendUnavailable, SandboxError, get_backend
from sandboxes.backends.base import AsyncRelayStream

log = logging.getLogger(__name__)

ASGIApp = Callable[[dict, Receive, Send], Awaitable[None]]
OPEN_TIMEOUT = 10.0
# Seconds between two checks that a long connection is still allowed: a
# revoked share link ends the connections it opened too.
RECHECK = 5.0
# Close codes for the browser's websocket (an ASGI application may send
# 1000 or 3000-4999 only): the app's own 1xxx codes pass as 4xxx.
REVOKED, OVER_BUDGET, BROKEN = 4403, 4429, 4502


def by_host(site: ASGIApp) -> ASGIApp:
    """The site, with the preview origins taken off in front of it."""

    async def application(scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            preview = hosts.from_host(_header(scope, b"host"))
            if preview is not None:
                return await serve(scope, receive, send, preview)
        return await site(scope, receive, send)

    return application


def _header(scope: dict, name: bytes) -> str:
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == name), "")


async def serve(scope: dict, receive: Receive, send: Send, preview: hosts.Preview) -> None:
    secure = scope.get("scheme") in ("https", "wss")
    name = access.cookie_name(secure)
    if scope["type"] == "http" and scope["path"].startswith((access.ENTER, access.SHARE)):
        return await _door(scope, Reply(send), preview, secure)
    values = access.cookie_values(scope["headers"], name)
    handle = await access.authorize(preview, values)
    if handle is None:
        return await _refuse(scope, receive, send, preview)

    async def revoked() -> None:
        while True:
            await asyncio.sleep(RECHECK)
            if await access.authorize(preview, values) is None:
                return

    if scope["type"] == "http":
        return await _http(scope, receive, Reply(send), preview, handle, access.without_cookie, revoked)
    return await _websocket(scope, receive, send, preview, handle, access.without_cookie, revoked, secure)


async def _door(scope: dict, reply: Reply, preview: hosts.Preview, secure: bool) -> None:
    """/.labdeck/enter/TICKET (the owner, from the site) and
    /.labdeck/share/TOKEN (anyone with the link): the cookie, then /."""
    path = scope["path"]
    if path.startswith(access.ENTER):
        value = await access.take_ticket(path.removeprefix(access.ENTER), preview)
        problem = "This link has been used already, or is too old: open the preview again from Labdeck."
    else:
        value = await access.take_share(path.removeprefix(access.SHARE), preview)
        problem = "This share link has been revoked, or its sandbox is gone."
    if value is None:
        return await reply.fail(403, problem)
    await reply.start(302, [(b"location", b"/"), (b"set-cookie", access.set_cookie_header(value, secure)),
                            (b"cache-control", b"no-store"), (b"referrer-policy", b"no-referrer"),
                            (b"content-length", b"0")])
    await reply.end()


async def _refuse(scope: dict, receive: Receive, send: Send, preview: hosts.Preview) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        return await send({"type": "websocket.close"})  # before accept: a 403
    site = settings.LABDECK_ORIGINS[0] if settings.LABDECK_ORIGINS else ""
    link = html.escape(f"{site}/previews/{preview.sandbox}/{preview.port}/")
    await Reply(send).fail(403, "This preview is private to the learner whose sandbox runs it. If it is yours, "
                                f'<a href="{link}">open it from Labdeck</a>.')


async def _open(handle: str, port: int) -> AsyncRelayStream:
    return await asyncio.wait_for(
        get_backend().open_relay_async(handle, ["socat", "-", f"TCP:127.0.0.1:{port}"]), OPEN_TIMEOUT)


async def _http(scope: dict, receive: Receive, reply: Reply, preview: hosts.Preview, handle: str,
                cookie: Callable[[bytes], bytes], revoked: Callable[[], Awaitable[None]]) -> None:
    names = (access.cookie_name(False).encode(), access.cookie_name(True).encode())
    try:
        async with limits.connection(handle) as budget, asyncio.timeout(settings.LABDECK_PREVIEW_SECONDS):
            relay = await _open(handle, preview.port)
            try:
                if await first_of(exchange(scope, receive, reply, relay, budget, cookie, names), revoked()):
                    return await reply.fail(403, "This preview is no longer shared.")
            finally:
                await relay.close()
    except limits.Busy:
        return await reply.fail(503, "This sandbox's previews are busy: try again in a moment.",
                                [(b"retry-after", b"2")])
    except limits.OverBudget:
        log.info("preview %s: a connection carried all it may", preview.label)
    except TimeoutError:
        return await reply.fail(504, "The app in the sandbox did not answer in time.")
    except BackendUnavailable:
        return await reply.fail(503, "The sandbox host is unavailable.")
    except (SandboxError, OSError, h11.ProtocolError):
        return await reply.fail(502, "The sandbox could not be reached.")
    await reply.end()


async def _websocket(scope: dict, receive: Receive, send: Send, preview: hosts.Preview, handle: str,
                     cookie: Callable[[bytes], bytes], revoked: Callable[[], Awaitable[None]],
                     secure: bool) -> None:
    await receive()  # websocket.connect
    host, origin = _header(scope, b"host"), _header(scope, b"origin")
    if origin != f"{'https' if secure else 'http'}://{host}":
        # Only the preview's own pages may open its websockets: the browser
        # sends a preview's cookie from a sibling preview's page too (same site).
        return await send({"type": "websocket.close"})
    accepted, code = False, BROKEN
    try:
        async with limits.connection(handle) as budget, asyncio.timeout(settings.LABDECK_PREVIEW_SECONDS):
            relay = await _open(handle, preview.port)
            try:
                app = AppSocket(relay, budget)
                if not await app.handshake(scope, host, origin, cookie):
                    return await send({"type": "websocket.close"})
                await send({"type": "websocket.accept", "subprotocol": app.subprotocol})
                accepted = True
                ended = await first_of(app.from_browser(receive), app.to_browser(send), revoked())
                code = REVOKED if ended == 2 else _browser_code(app.closed_with)
            finally:
                await relay.close()
    except (limits.OverBudget, TimeoutError):
        code = OVER_BUDGET
    except (limits.Busy, BackendUnavailable, SandboxError, OSError, WebSocketException) as exc:
        log.debug("preview %s: websocket: %s", preview.label, exc)
    await send({"type": "websocket.close", "code": code} if accepted else {"type": "websocket.close"})


def _browser_code(code: int | None) -> int:
    if code is None:
        return BROKEN
    if code == 1000 or 3000 <= code < 5000:
        return code
    return 4000 + code % 1000
