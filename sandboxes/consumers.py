"""The terminal websocket: browser frames in, shell output out.

consumer (this file) -> session (terminal.py) -> backend stream. Only the
owner of a sandbox may attach; everyone else is told why and disconnected.
"""
from __future__ import annotations

import logging
import time

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from sandboxes import protocol, terminal
from sandboxes.backends import BackendUnavailable, SandboxError
from sandboxes.models import Sandbox
from sandboxes.owners import owner_key

log = logging.getLogger(__name__)

# Activity is written to the database at most this often per connection.
TOUCH_EVERY = 30.0
MAX_BAD_FRAMES = 20


@database_sync_to_async
def _find_sandbox(public_id: str, owner: str) -> tuple[Sandbox | None, str]:
    sandbox = Sandbox.objects.filter(public_id=public_id).first()
    if sandbox is None or sandbox.state == Sandbox.GONE:
        return None, "not-found"
    if not owner or sandbox.owner != owner:
        return None, "forbidden"
    if sandbox.state != Sandbox.ASSIGNED:
        return None, "not-ready"
    return sandbox, ""


@database_sync_to_async
def _touch(pk: int) -> None:
    Sandbox.objects.filter(pk=pk).update(last_seen=timezone.now())


class TerminalConsumer(AsyncWebsocketConsumer):
    session: terminal.TerminalSession | None = None

    async def __call__(self, scope, receive, send) -> None:
        """A plain receive loop. The terminal uses no channel layer, and the
        task juggling of Channels' await_many_dispatch costs every keystroke."""
        self.scope, self.base_send, self.channel_layer = scope, send, None
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def connect(self) -> None:
        await self.accept()
        owner = owner_key(self.scope.get("session") or {}, create=False)
        sandbox, problem = await _find_sandbox(self.scope["url_route"]["kwargs"]["sandbox_id"], owner)
        if problem == "not-found":
            return await self.refuse(4404, "closed", "There is no such sandbox.")
        if problem == "forbidden":
            return await self.refuse(4403, "closed", "This terminal belongs to someone else.")
        if problem == "not-ready":
            return await self.refuse(4409, "starting", "The sandbox is not ready yet.")
        self.sandbox_pk, self.last_touch, self.bad_frames = sandbox.pk, time.monotonic(), 0
        self.session = await self.open_session(sandbox.handle)
        if self.session is None:
            return
        await self.session.attach(self)
        await _touch(self.sandbox_pk)

    async def open_session(self, handle: str) -> terminal.TerminalSession | None:
        """The sandbox's terminal session, or None after telling the client why not."""
        try:
            return await terminal.session_for(handle, scrollback=settings.LABDECK_TERMINAL_SCROLLBACK)
        except BackendUnavailable:
            await self.refuse(4503, "unavailable", "The sandbox host is unavailable.")
        except SandboxError as exc:
            await self.refuse(4410, "closed", f"The sandbox is gone ({exc}).")
        return None

    async def dispatch(self, message: dict) -> None:
        # Keystrokes, resizes and acknowledgements touch no database: skip
        # Channels' per-message close_old_connections(), a thread hop that
        # costs a quarter of a millisecond per keystroke. The helpers that do
        # use the database (database_sync_to_async) still close stale ones.
        if message["type"] == "websocket.receive" and self.session is not None:
            return await self.websocket_receive(message)
        return await super().dispatch(message)

    async def refuse(self, code: int, state: str, message: str) -> None:
        await self.send(bytes_data=protocol.status(state, message))
        await self.close(code=code, reason=message)

    async def disconnect(self, code: int) -> None:
        if self.session is not None:
            self.session.detach(self)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.session is None:
            return
        try:
            if bytes_data is None:
                raise protocol.ProtocolError("text frames are not part of the protocol")
            kind, value = protocol.decode(bytes_data)
        except protocol.ProtocolError as exc:
            self.bad_frames += 1
            if self.bad_frames > MAX_BAD_FRAMES:
                return await self.refuse(4400, "closed", "Too many malformed frames.")
            await self.send(bytes_data=protocol.status("warning", f"Ignored a malformed frame: {exc}."))
            return
        if kind == protocol.INPUT:
            await self.session.input(value)
            if time.monotonic() - self.last_touch > TOUCH_EVERY:
                self.last_touch = time.monotonic()
                await _touch(self.sandbox_pk)
        elif kind == protocol.RESIZE:
            await self.session.resize(*value)
        elif kind == protocol.ACK:
            self.session.ack(value)

    async def send_output(self, data: bytes) -> None:
        # Straight to the server's send: this is the hot path of every echo.
        await self.base_send({"type": "websocket.send", "bytes": protocol.output(data)})

    async def send_status(self, state: str, message: str, **extra) -> None:
        await self.send(bytes_data=protocol.status(state, message, **extra))
        if state == "closed":
            self.session = None
            await self.close(code=4001, reason=message)

    async def send_exit(self, code: int) -> None:
        await self.send(bytes_data=protocol.exit_frame(code))
        self.session = None
        await self.close(code=4000, reason="The shell has ended.")
