"""Terminal sessions: one shell per sandbox, outliving browser connections.

A session reads the shell's output, keeps the most recent part of it so that
a reloaded page gets its screen back, and forwards it to the one attached
client and to any read-only watchers (an instructor helping). Flow control
follows the xterm.js guide: the client acknowledges what it has rendered;
above HIGH unacknowledged bytes the session stops reading from the shell (so
a flood waits in the kernel, not in our memory) and resumes below LOW. With
nobody attached it keeps reading, so a `docker logs -f` goes on, and only the
recent scrollback is kept. Watchers have no flow control of their own: they
see what the learner's pace lets through.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Protocol

from channels.layers import get_channel_layer

from sandboxes.backends import get_backend
from sandboxes.backends.base import TerminalStream

log = logging.getLogger(__name__)

# The sandbox's bash prints this private OSC sequence before each prompt,
# with the command that ended (deploy/sandbox/bashrc); xterm.js ignores it,
# Labdeck tells listeners.
COMMAND_DONE = b"\x1b]6973;labdeck;done"
_DONE = re.compile(rb"\x1b\]6973;labdeck;done(?:;([^\x07]{0,4096}))?\x07")
_OSC_START = COMMAND_DONE[:6]
# Longest tail of a chunk that may hold the start of an unfinished sequence.
_CARRY = 4200

HIGH = 256 * 1024
LOW = 32 * 1024
READ_SIZE = 64 * 1024


class Client(Protocol):
    async def send_output(self, data: bytes) -> None: ...
    async def send_status(self, state: str, message: str, **extra) -> None: ...
    async def send_exit(self, code: int) -> None: ...


class TerminalSession:
    def __init__(self, handle: str, stream: TerminalStream, scrollback: int):
        self.handle, self.stream, self.scrollback_limit = handle, stream, scrollback
        self.scrollback = bytearray()
        self.client: Client | None = None
        self.watchers: set[Client] = set()
        self.carry = b""
        self.unacked = 0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.closed = False
        self.pump_task = asyncio.get_running_loop().create_task(self._pump())

    async def attach(self, client: Client) -> None:
        """Make client the one attached; replay the recent screen to it."""
        previous, self.client = self.client, client
        if previous is not None and previous is not client:
            await previous.send_status("closed", "This terminal was opened in another window.")
        self.unacked = 0
        self.flowing.set()
        await client.send_status("ready", "Connected.", reset=True)
        replay = self._replay()
        if replay:
            self.unacked += len(replay)
            await client.send_output(replay)
        if self.watchers:
            await self._tell_watched()

    def detach(self, client: Client) -> None:
        if self.client is client:
            self.client = None
            self.unacked = 0
            self.flowing.set()

    async def watch(self, watcher: Client) -> None:
        """Add a read-only watcher; the learner is told they are watched."""
        self.watchers.add(watcher)
        await watcher.send_status("ready", "Watching (read-only).", reset=True)
        replay = self._replay()
        if replay:
            await watcher.send_output(replay)
        await self._tell_watched()

    async def unwatch(self, watcher: Client) -> None:
        if watcher in self.watchers:
            self.watchers.discard(watcher)
            await self._tell_watched()

    async def _tell_watched(self) -> None:
        if self.client is None:
            return
        if self.watchers:
            await self.client.send_status("watched", "Your instructor is watching your terminal (read-only).",
                                          watchers=len(self.watchers))
        else:
            await self.client.send_status("unwatched", "Nobody is watching your terminal any more.", watchers=0)

    async def input(self, data: bytes) -> None:
        await self.stream.write(data)

    async def resize(self, cols: int, rows: int) -> None:
        await self.stream.resize(cols, rows)

    def ack(self, count: int) -> None:
        self.unacked = max(0, self.unacked - count)
        if self.unacked < LOW:
            self.flowing.set()

    def _replay(self) -> bytes:
        """The kept output, starting at a line boundary so no escape is cut."""
        data = bytes(self.scrollback[-self.scrollback_limit:])
        if len(self.scrollback) >= self.scrollback_limit:
            cut = data.find(b"\n")
            data = data[cut + 1:] if cut >= 0 else b""
        return data

    async def _pump(self) -> None:
        try:
            while True:
                await self.flowing.wait()
                data = await self.stream.read(READ_SIZE)
                if not data:
                    break
                if self.carry or _OSC_START in data or b"\x1b" in data[-6:]:
                    await self._commands(data)
                self.scrollback += data
                # Trim only when twice the limit is reached: one memmove per
                # `limit` bytes of output instead of one per chunk.
                if len(self.scrollback) > 2 * self.scrollback_limit:
                    del self.scrollback[:len(self.scrollback) - self.scrollback_limit]
                await self._deliver(data)
        except Exception:
            log.exception("terminal session %s failed", self.handle)
        finally:
            self.closed = True
            _sessions.pop(self.handle, None)
            if self.client is not None:
                await self.client.send_exit(0)

    async def _deliver(self, data: bytes) -> None:
        """Send output to the client and the watchers. A connection that
        closes while we write to it (before its disconnect has run) loses its
        place; it never ends the shell that the others still use."""
        client = self.client
        if client is not None:
            self.unacked += len(data)
            if self.unacked > HIGH:
                self.flowing.clear()
            try:
                await client.send_output(data)
            except Exception as exc:
                log.info("terminal %s: client gone while writing (%s)", self.handle, exc)
                self.detach(client)
        for watcher in list(self.watchers):
            try:
                await watcher.send_output(data)
            except Exception as exc:
                log.info("terminal %s: watcher gone while writing (%s)", self.handle, exc)
                self.watchers.discard(watcher)
                with contextlib.suppress(Exception):
                    await self._tell_watched()

    async def _commands(self, data: bytes) -> None:
        """Tell listeners about each command-done sequence, including one
        split across reads."""
        text = self.carry + data
        end = 0
        for match in _DONE.finditer(text):
            end = match.end()
            command = (match.group(1) or b"").decode("utf-8", "replace").strip()
            await notify_command_done(self.handle, command)
        start = text.rfind(b"\x1b", end)
        rest = text[start:] if start >= 0 else b""
        unfinished = rest.startswith(COMMAND_DONE) and b"\x07" not in rest
        self.carry = rest[:_CARRY] if unfinished or (rest and COMMAND_DONE.startswith(rest)) else b""

    async def close(self) -> None:
        self.closed = True
        _sessions.pop(self.handle, None)
        await self.stream.close()
        self.pump_task.cancel()


async def notify_command_done(handle: str, command: str = "") -> None:
    """Tell whoever listens on the sandbox's group that a shell command ended."""
    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(sandbox_group(handle),
                               {"type": "sandbox.command_done", "handle": handle, "command": command})


def sandbox_group(handle: str) -> str:
    return f"sandbox.{handle}"


_sessions: dict[str, TerminalSession] = {}
_opening: dict[str, asyncio.Lock] = {}


async def session_for(handle: str, cols: int = 80, rows: int = 24, scrollback: int = 256 * 1024) -> TerminalSession:
    """The live session of a sandbox in this process, opening one if needed."""
    lock = _opening.setdefault(handle, asyncio.Lock())
    async with lock:
        session = _sessions.get(handle)
        if session is None or session.closed:
            stream = await get_backend().open_terminal(handle, cols, rows)
            session = _sessions[handle] = TerminalSession(handle, stream, scrollback)
        return session


async def close_all() -> None:
    for session in list(_sessions.values()):
        await session.close()
