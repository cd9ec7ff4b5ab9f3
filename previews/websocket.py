"""A websocket of a preview: the browser's end is the web server's, the
app's end is spoken here, over a relay to the port in the sandbox, by websockets'
sans-I/O client. Messages pass as they come, each one bounded, every byte
counted against the connection's budget; pings are answered here.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.typing import Origin, Subprotocol
from websockets.uri import parse_uri

from previews.http import CHUNK, IDLE, Receive, Send
from previews.limits import Budget
from sandboxes.backends.base import AsyncRelayStream

# The largest message either way; labdeck/serve.py bounds the browser's side to
# the same (WS_MAX_SIZE).
MESSAGE_LIMIT = 4 << 20
# Request headers of the browser that the app's handshake carries as well.
PASSED = (b"user-agent", b"accept-language", b"authorization")


class AppSocket:
    """The app's end of one proxied websocket."""

    def __init__(self, relay: AsyncRelayStream, budget: Budget):
        self.relay, self.budget = relay, budget
        self.protocol: ClientProtocol | None = None
        self.closed_with: int | None = None  # the app's close code, once it closed
        self.lock = asyncio.Lock()  # the two directions both write to the relay

    async def flush(self) -> None:
        async with self.lock:
            for data in self.protocol.data_to_send():
                if data:  # b"" asks for a half-close, which a relay has not
                    await self.relay.send(data)

    async def handshake(self, scope: dict, host: str, origin: str | None,
                        cookie: Callable[[bytes], bytes]) -> bool:
        """Open the websocket with the app as the browser asked for it; False
        if the app refuses or speaks no websocket."""
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        self.protocol = ClientProtocol(
            parse_uri(f"ws://{host}{target.decode('latin-1')}"), origin=Origin(origin) if origin else None,
            subprotocols=[Subprotocol(s) for s in scope.get("subprotocols") or []] or None,
            max_size=MESSAGE_LIMIT)
        request = self.protocol.connect()
        for key, value in scope["headers"]:
            value = cookie(value) if key == b"cookie" else value
            if value and (key == b"cookie" or key in PASSED):
                request.headers[key.decode()] = value.decode("latin-1")
        self.protocol.send_request(request)
        await self.flush()
        while True:
            data = await asyncio.wait_for(self.relay.recv(CHUNK), IDLE)
            await self.budget.spend(len(data))
            if data:
                self.protocol.receive_data(data)
            else:
                self.protocol.receive_eof()
            for event in self.protocol.events_received():
                if isinstance(event, Response):
                    return self.protocol.handshake_exc is None
            if not data or self.protocol.handshake_exc is not None:
                return False

    async def from_browser(self, receive: Receive) -> None:
        """Pass the browser's messages on until it leaves."""
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                with contextlib.suppress(Exception):
                    self.protocol.send_close(1000)
                    await self.flush()
                return
            if message.get("bytes") is not None:
                await self.budget.spend(len(message["bytes"]))
                self.protocol.send_binary(message["bytes"])
            elif message.get("text") is not None:
                data = message["text"].encode()
                await self.budget.spend(len(data))
                self.protocol.send_text(data)
            await self.flush()

    async def to_browser(self, send: Send) -> None:
        """Pass the app's messages on until it closes (closed_with: its code)."""
        parts: list[bytes] = []
        kind = Opcode.TEXT
        while True:
            data = await self.relay.recv(CHUNK)
            if data:
                await self.budget.spend(len(data))
                self.protocol.receive_data(data)
            else:
                self.protocol.receive_eof()
            for frame in self.protocol.events_received():
                if frame.opcode is Opcode.CLOSE:
                    await self.flush()
                    self.closed_with = self.protocol.close_rcvd.code
                    return
                if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                    kind, parts = frame.opcode, []
                if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                    parts.append(bytes(frame.data))
                    if frame.fin:
                        message = b"".join(parts)
                        parts = []
                        if kind is Opcode.TEXT:
                            await send({"type": "websocket.send", "text": message.decode("utf-8", "replace")})
                        else:
                            await send({"type": "websocket.send", "bytes": message})
            await self.flush()
            if self.protocol.close_sent is not None:  # it broke the protocol, or a message was too long
                self.closed_with = self.protocol.close_sent.code
                return
            if not data:
                return

    @property
    def subprotocol(self) -> str | None:
        return self.protocol.subprotocol if self.protocol else None
