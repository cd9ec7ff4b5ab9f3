"""The Docker engine inside a sandbox, spoken to through its own HTTP API.

The checker reads the inner engine's state through the API rather than
through the `docker` program of the sandbox. The bytes travel through a
relay started in the sandbox (socat, a plain pipe to the engine's socket);
this side speaks HTTP/1.1 over it with h11. The learner can replace the
relay or the engine (both are theirs), and so fake or break their own
checks, never anyone else's: every answer here is bounded in bytes, every
call in time, and only what this side parsed is believed.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import h11

from sandboxes.backends import get_backend
from sandboxes.backends.base import AsyncRelayStream, RelayStream

RELAY = ["socat", "-", "UNIX-CONNECT:/var/run/docker.sock"]
API = "/v1.41"
# One answer (a container's inspect, a page of logs) and all of one round.
ANSWER_LIMIT = 8 << 20
ROUND_LIMIT = 64 << 20
EVENT_LIMIT = 64 << 10


class InnerEngineError(Exception):
    """The sandbox's engine did not answer, or not within bounds."""


class InnerEngineRefused(InnerEngineError):
    """The sandbox's engine answered, with an error status (a container that
    cannot start, say): an answer about the learner's work, not a fault."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class _Call:
    """One request and its answer on an h11 connection, without I/O: `out`
    is what to send; feed() what arrives until it returns True."""

    def __init__(self, conn: h11.Connection, method: str, path: str, params: dict | None,
                 body: Any, limit: int, sink: Callable[[bytes], None] | None = None):
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        self.conn, self.limit, self.sink = conn, limit, sink
        self.received = 0
        target = API + path + ("?" + urlencode(params) if params else "")
        data = json.dumps(body).encode() if body is not None else b""
        headers = [("Host", "docker"), ("Content-Length", str(len(data)))]
        if body is not None:
            headers.append(("Content-Type", "application/json"))
        self.out = conn.send(h11.Request(method=method, target=target, headers=headers))
        self.out += (conn.send(h11.Data(data=data)) if data else b"") + conn.send(h11.EndOfMessage())
        self.method = method
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = bytearray()

    @property
    def reusable(self) -> bool:
        """Whether the connection carries another call: not after an answer
        that only the end of the connection ended (a raw stream)."""
        framed = "content-length" in self.headers or "transfer-encoding" in self.headers
        return (framed or self.method == "HEAD" or self.status in (204, 304)) and \
            self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE

    def feed(self, data: bytes) -> bool:
        try:
            self.conn.receive_data(data)
            while True:
                event = self.conn.next_event()
                if event is h11.NEED_DATA:
                    if not data:
                        raise InnerEngineError("the sandbox's engine closed the connection")
                    return False
                if isinstance(event, h11.Response):
                    self.status = event.status_code
                    self.headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
                elif isinstance(event, h11.Data):
                    self.received += len(event.data)
                    if self.received > self.limit:
                        raise InnerEngineError(f"an answer of the sandbox's engine is over {self.limit} bytes")
                    if self.sink is None:
                        self.body += event.data
                    else:
                        self.sink(event.data)
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    return True
        except h11.RemoteProtocolError as exc:
            raise InnerEngineError(f"the sandbox's engine spoke no HTTP: {exc}") from exc


def _decode(call: _Call, method: str, path: str, missing_ok: bool, raw: bool) -> Any:
    if call.status == 404 and missing_ok:
        return None
    if call.status >= 400:
        raise InnerEngineRefused(f"{method} {path}: {call.status} {bytes(call.body[:200]).decode(errors='replace')}",
                                 call.status)
    if raw or "json" not in call.headers.get("content-type", ""):
        return bytes(call.body)
    if not call.body:
        return None
    try:
        return json.loads(call.body)
    except ValueError as exc:
        raise InnerEngineError(f"{method} {path}: not JSON") from exc


class InnerEngine:
    """A connection to one sandbox's engine, kept open for several calls
    (a check round). Blocking: run it in a worker thread."""

    def __init__(self, handle: str, timeout: float = 10, budget: int = ROUND_LIMIT):
        self.handle, self.timeout, self.budget = handle, timeout, budget
        self.relay: RelayStream | None = None
        self.conn = h11.Connection(h11.CLIENT)

    def __enter__(self) -> InnerEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.relay is not None:
            self.relay.close()
            self.relay = None

    def call(self, method: str, path: str, params: dict | None = None, body: Any = None,
             missing_ok: bool = False, limit: int = ANSWER_LIMIT, timeout: float | None = None,
             raw: bool = False) -> Any:
        """The decoded answer (JSON; bytes when raw or not JSON); None for a
        404 when missing_ok. Raises InnerEngineError, SandboxError or
        BackendUnavailable."""
        return _decode(self._exchange(method, path, params, body, limit, timeout), method, path, missing_ok, raw)

    def exists(self, path: str, params: dict | None = None) -> bool:
        """HEAD path: True for 200, False for 404."""
        call = self._exchange("HEAD", path, params, None, ANSWER_LIMIT, None)
        if call.status not in (200, 404):
            raise InnerEngineError(f"HEAD {path}: {call.status}")
        return call.status == 200

    def _exchange(self, method: str, path: str, params: dict | None, body: Any, limit: int,
                  timeout: float | None) -> _Call:
        if self.relay is None:
            self.relay = get_backend().open_relay(self.handle, RELAY, timeout or self.timeout)
            self.conn = h11.Connection(h11.CLIENT)
        self.relay.extend(timeout or self.timeout)
        call = _Call(self.conn, method, path, params, body, min(limit, self.budget))
        try:
            self.relay.send(call.out)
            while not call.feed(self.relay.recv(65536)):
                pass
        except TimeoutError as exc:
            self.close()
            raise InnerEngineError(f"{method} {path}: no answer in time") from exc
        except InnerEngineError:
            self.close()
            raise
        self.budget -= len(call.body)
        if not call.reusable:
            self.close()  # the next call opens another connection
        return call


class AsyncInnerEngine:
    """InnerEngine for asyncio code: one connection, calls one at a time."""

    def __init__(self, handle: str, timeout: float = 10):
        self.handle, self.timeout = handle, timeout
        self.relay: AsyncRelayStream | None = None
        self.conn = h11.Connection(h11.CLIENT)
        self.lock = asyncio.Lock()

    async def open(self) -> AsyncInnerEngine:
        """Start the relay now, so that the first call does not wait for it."""
        if self.relay is None:
            self.relay = await get_backend().open_relay_async(self.handle, RELAY)
            self.conn = h11.Connection(h11.CLIENT)
        return self

    async def close(self) -> None:
        if self.relay is not None:
            relay, self.relay = self.relay, None
            await relay.close()

    async def call(self, method: str, path: str, params: dict | None = None, body: Any = None,
                   missing_ok: bool = False, limit: int = ANSWER_LIMIT, raw: bool = False,
                   sink: Callable[[bytes], None] | None = None) -> Any:
        """One call; with `sink`, the answer's body goes to it as it arrives
        (then `limit` bounds the bytes read, not the bytes kept)."""
        async with self.lock:
            try:
                return await asyncio.wait_for(self._call(method, path, params, body, missing_ok, limit, raw, sink),
                                              self.timeout)
            except (TimeoutError, InnerEngineError):
                await self.close()
                raise

    async def _call(self, method, path, params, body, missing_ok, limit, raw, sink) -> Any:
        await self.open()
        call = _Call(self.conn, method, path, params, body, limit, sink)
        await self.relay.send(call.out)
        while not call.feed(await self.relay.recv(65536)):
            pass
        if not call.reusable:
            await self.close()
        return _decode(call, method, path, missing_ok, raw)


async def events(handle: str, params: dict | None = None,
                 opened: Callable[[], None] | None = None) -> AsyncIterator[dict]:
    """The sandbox engine's events as they happen, one dict each, until the
    stream ends; opened() is called once the engine has started sending
    them. An event longer than EVENT_LIMIT ends it (InnerEngineError)."""
    relay = await get_backend().open_relay_async(handle, RELAY)
    conn = h11.Connection(h11.CLIENT)
    try:
        call = _Call(conn, "GET", "/events", params, None, EVENT_LIMIT)
        await relay.send(call.out)
        line = bytearray()
        while True:
            data = await relay.recv(65536)
            conn.receive_data(data)
            while True:
                try:
                    event = conn.next_event()
                except h11.RemoteProtocolError as exc:
                    raise InnerEngineError(f"events: {exc}") from exc
                if event is h11.NEED_DATA:
                    if not data:
                        return
                    break
                if isinstance(event, h11.Response):
                    if event.status_code >= 400:
                        raise InnerEngineError(f"events: {event.status_code}")
                    if opened is not None:
                        opened()
                if isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    return
                if isinstance(event, h11.Data):
                    line += event.data
                    *complete, rest = bytes(line).split(b"\n")
                    line = bytearray(rest)
                    if len(line) > EVENT_LIMIT:
                        raise InnerEngineError("events: an event is too long")
                    for item in complete:
                        if item.strip():
                            try:
                                yield json.loads(item)
                            except ValueError:
                                continue
    finally:
        await relay.close()
