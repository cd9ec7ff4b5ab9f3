"""One HTTP exchange of a preview, over a relay to the port in the sandbox.

The request reaches the learner's app as the browser sent it, less what
belongs to the hop (Connection and the headers it names) and to Labdeck (the
preview's cookie); the answer comes back chunk by chunk as it arrives, never
held whole. h11 speaks HTTP/1.1 on the pipe: one exchange per relay
(Connection: close), the head of the answer bounded, every wait bounded.
"""
from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import h11

from previews.limits import Budget
from sandboxes.backends.base import AsyncRelayStream

Send = Callable[[dict], Awaitable[None]]
Receive = Callable[[], Awaitable[dict]]

HOP = {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection",
       b"te", b"trailer", b"transfer-encoding", b"upgrade"}
# Seconds the app may take to answer, or between two pieces of its answer.
IDLE = 60.0
HEAD_LIMIT = 64 << 10
CHUNK = 64 << 10
_DOMAIN = re.compile(rb";\s*domain=[^;]*", re.I)


async def first_of(*coros: Awaitable) -> int:
    """Run these together until one ends, then cancel the others: the index of
    the one that ended (its exception, if it raised one, is raised)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    ended = next(task for task in tasks if task in done)
    ended.result()
    return tasks.index(ended)


async def disconnected(receive: Receive) -> None:
    """Return once the browser has gone (after the request's body is read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class Reply:
    """The answer to the browser, which knows whether it has begun: an error
    before it is a page of its own, after it the end of what was sent."""

    def __init__(self, send: Send):
        self.send, self.started, self.ended = send, False, False

    async def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.started = True
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def body(self, data: bytes) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def end(self) -> None:
        if not self.ended:
            self.ended = True
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})

    async def fail(self, status: int, message: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
        if self.started:
            return await self.end()
        page = f"<!doctype html><title>{status}</title><p>{message}</p>\n".encode()
        await self.start(status, [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store"),
                                  (b"x-content-type-options", b"nosniff"), *headers])
        self.ended = True
        await self.send({"type": "http.response.body", "body": page})


def _named_by_connection(headers: list[tuple[bytes, bytes]]) -> set[bytes]:
    return {name.strip().lower() for key, value in headers if key.lower() == b"connection"
            for name in value.split(b",")}


def request_headers(headers: list[tuple[bytes, bytes]], cookie: Callable[[bytes], bytes]) -> list:
    """The browser's headers for the app; cookie() filters the Cookie header."""
    named = _named_by_connection(headers)
    out = []
    for key, value in headers:
        if key in HOP or key in named:
            continue
        if key == b"cookie":
            value = cookie(value)
            if not value:
                continue
        out.append((key, value))
    if any(k == b"transfer-encoding" for k, _ in headers) and not any(k == b"content-length" for k, _ in out):
        out.append((b"transfer-encoding", b"chunked"))
    return out + [(b"connection", b"close")]


def response_headers(headers: list[tuple[bytes, bytes]], cookie_names: tuple[bytes, ...]) -> list:
    """The app's headers for the browser. Content-Length goes too: the answer
    is then chunked to the browser, so that one cut short by a budget still
    ends as a well-formed message. The app may not set the preview's own
    cookie, nor a cookie for a parent domain (every preview under it would
    get it): its cookies are made host-only."""
    named = _named_by_connection(headers)
    out = []
    for key, value in headers:
        key = key.lower()
        if key in HOP or key in named or key == b"content-length":
            continue
        if key == b"set-cookie":
            if value.partition(b"=")[0].strip() in cookie_names:
                continue
            value = _DOMAIN.sub(b"", value)
        out.append((key, value))
    return out


async def exchange(scope: dict, receive: Receive, reply: Reply, relay: AsyncRelayStream, budget: Budget,
                   cookie: Callable[[bytes], bytes], cookie_names: tuple[bytes, ...]) -> None:
    """Send the request, then stream the answer; raises OverBudget, TimeoutError
    and OSError for the caller to end the reply."""
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=HEAD_LIMIT)
    target = scope.get("raw_path") or scope["path"].encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    try:
        head = conn.send(h11.Request(method=scope["method"], target=target,
                                     headers=request_headers(scope["headers"], cookie)))
    except h11.LocalProtocolError:
        return await reply.fail(400, "This request cannot be passed on.")
    await relay.send(head)
    while True:  # the body, as the server hands it over
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        if message.get("body"):
            await budget.spend(len(message["body"]))
            await relay.send(conn.send(h11.Data(data=message["body"])))
        if not message.get("more_body"):
            break
    await relay.send(conn.send(h11.EndOfMessage()))
    # The server says nothing when the browser stops reading, only when it leaves.
    await first_of(_answer(conn, reply, relay, budget, cookie_names), disconnected(receive))


async def _answer(conn: h11.Connection, reply: Reply, relay: AsyncRelayStream, budget: Budget,
                  cookie_names: tuple[bytes, ...]) -> None:
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            return await reply.fail(502, "The app in your sandbox answered with something that is not HTTP.")
        if event is h11.NEED_DATA:
            data = await asyncio.wait_for(relay.recv(CHUNK), IDLE)
            if not data and not reply.started:
                return await reply.fail(502, "Nothing answers on this port in the sandbox (or it hung up).")
            await budget.spend(len(data))  # all of it, heads and 1xx answers too
            conn.receive_data(data)
        elif isinstance(event, h11.Response):
            await reply.start(event.status_code, response_headers(event.headers, cookie_names))
        elif isinstance(event, h11.Data):
            await reply.body(bytes(event.data))  # h11 may hand a bytearray, Twisted writes bytes only
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            return await reply.end()
