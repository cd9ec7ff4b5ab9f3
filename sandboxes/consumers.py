"""The terminal websocket: browser frames in, shell output out.

consumer (this file) -> session (terminal.py) -> backend relay -> the
shell's holder in the sandbox (labdeck-term). Only the owner of a sandbox
may attach; everyone else is told why and disconnected. A node set has a
terminal per node (/ws/terminal/ID/node2/). The terminals open on one
machine, in any web process, share a channel-layer group: a new learner tab takes the shell over from an
older one, and instructors watching say so.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.db import DatabaseError
from django.utils import timezone

from sandboxes import protocol, terminal
from sandboxes.backends import BackendUnavailable, SandboxError, get_backend
from sandboxes.models import Sandbox
from sandboxes.owners import owner_key

log = logging.getLogger(__name__)

# Activity is written to the database at most this often per connection.
TOUCH_EVERY = 30.0
MAX_BAD_FRAMES = 20
# How long a new connection waits to join its sandbox's group before it
# attaches the shell all the same (the channel layer may be restarting).
GROUP_WAIT = 2.0
# The size a new shell starts at; the page's first RESIZE follows at once.
COLS, ROWS = 80, 24
# Why a holder client ended, as the page is told (see TerminalSession._tell_ended).
ENDINGS = {
    "detached": (4001, "closed", "This terminal was opened in another window."),
    "gone": (4410, "closed", "Your sandbox has stopped."),
    "unavailable": (4503, "unavailable", "The sandbox host is unavailable."),
    "broken": (4000, "closed", "The connection to your shell broke. Reload to reconnect."),
}


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
    """Note the learner's activity (the idle reaper reads it). A database
    that is restarting loses one note, never the learner's shell."""
    try:
        Sandbox.objects.filter(pk=pk).update(last_seen=timezone.now())
    except DatabaseError as exc:
        log.warning("activity of sandbox %s not noted: %s", pk, exc)


class TerminalConsumer(AsyncWebsocketConsumer):
    session: terminal.TerminalSession | None = None
    watcher = False
    handle = ""
    bad_frames = 0

    async def __call__(self, scope, receive, send) -> None:
        """A plain receive loop for the websocket: the task juggling of
        Channels' await_many_dispatch costs every keystroke. The rare
        channel-layer messages come in through a task of their own."""
        self.scope, self.base_send = scope, send
        self.channel_layer, self.channel_name, self.listener = get_channel_layer(), "", None
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            await self.leave_group()

    async def join_group(self, handle: str) -> None:
        self.handle = handle
        if self.channel_layer is None:
            return
        self.channel_name = await self.channel_layer.new_channel()
        joined = asyncio.Event()
        self.listener = asyncio.get_running_loop().create_task(self.listen(joined))
        # Joined before the first "taken" goes out, unless the layer is down:
        # then the shell must not wait for it (the listener joins later).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(joined.wait(), GROUP_WAIT)

    async def listen(self, joined: asyncio.Event) -> None:
        """The group's messages, for as long as the connection lasts. When
        the channel layer goes away (Redis restarting, which also forgets
        its groups), join again once it is back: the shell goes on."""
        delay = 0.25
        while True:
            try:
                await self.channel_layer.group_add(terminal.terminal_group(self.handle), self.channel_name)
                joined.set()
                delay = 0.25
                while True:
                    message = await self.channel_layer.receive(self.channel_name)
                    with contextlib.suppress(Exception):
                        await self.dispatch(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the channel layer's own errors (Redis's)
                log.info("terminal %s: channel layer: %s; joining again", self.handle, exc)
                joined.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def leave_group(self) -> None:
        if self.listener is not None:
            self.listener.cancel()
            self.listener = None
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(terminal.terminal_group(self.handle), self.channel_name)

    async def tell_terminals(self, kind: str, **data) -> None:
        if self.channel_layer is not None and self.handle:
            try:
                await self.channel_layer.group_send(terminal.terminal_group(self.handle),
                                                    {"type": f"terminal.{kind}", "sender": self.channel_name, **data})
            except Exception as exc:  # the channel layer's own errors (Redis's)
                log.info("terminal %s: could not tell the others (%s)", self.handle, exc)

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
        handle = await self.machine(sandbox)
        if handle is None:
            return None
        self.sandbox_pk, self.last_touch, self.bad_frames = sandbox.pk, time.monotonic(), 0
        self.watchers: set[str] = set()
        await self.join_group(handle)
        await self.tell_terminals("taken")  # an older tab of this learner lets go
        self.session = await self.open_session(handle)
        if self.session is not None:
            await self.tell_terminals("roll_call")  # watchers already there say so
            await _touch(self.sandbox_pk)

    async def machine(self, sandbox: Sandbox) -> str | None:
        """The handle of the machine the URL names (node2 of a node set, say;
        node1 without one), or None after telling the client it has none."""
        node = self.scope["url_route"]["kwargs"].get("node", 1)
        if not 1 <= node <= sandbox.nodes:
            await self.refuse(4404, "closed", f"This sandbox has no node{node}.")
            return None
        return get_backend().node_handle(sandbox.handle, node)

    async def open_session(self, handle: str) -> terminal.TerminalSession | None:
        """A client of the sandbox's shell, or None after telling the client why not."""
        try:
            return await terminal.open_session(handle, self, COLS, ROWS, watcher=self.watcher)
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
            session, self.session = self.session, None
            await session.close()

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

    # -- what the session tells this connection -------------------------------

    async def send_output(self, data: bytes) -> None:
        # Straight to the server's send: this is the hot path of every echo.
        await self.base_send({"type": "websocket.send", "bytes": protocol.output(data)})

    async def send_status(self, state: str, message: str, **extra) -> None:
        await self.send(bytes_data=protocol.status(state, message, **extra))

    async def send_exit(self, code: int) -> None:
        self.session = None
        await self.send(bytes_data=protocol.exit_frame(code))
        await self.close(code=4000, reason="The shell has ended.")

    async def send_ended(self, how: str) -> None:
        self.session = None
        code, state, message = ENDINGS[how]
        await self.refuse(code, state, message)

    # -- what the other terminals of the sandbox say ---------------------------

    async def terminal_taken(self, event: dict) -> None:
        if event["sender"] != self.channel_name and self.session is not None and not self.watcher:
            session, self.session = self.session, None
            await session.close()
            await self.refuse(*ENDINGS["detached"])

    async def terminal_watch(self, event: dict) -> None:
        if self.watcher or self.session is None:
            return
        before = len(self.watchers)
        (self.watchers.add if event["on"] else self.watchers.discard)(event["sender"])
        if len(self.watchers) != before:
            if self.watchers:
                await self.send_status("watched", "Your instructor is watching your terminal (read-only).",
                                       watchers=len(self.watchers))
            else:
                await self.send_status("unwatched", "Nobody is watching your terminal any more.", watchers=0)

    async def terminal_roll_call(self, event: dict) -> None:
        pass  # only watchers answer
