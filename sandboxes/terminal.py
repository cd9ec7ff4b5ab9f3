"""Terminal sessions: one browser connection to the sandbox's shell.

The shell runs under labdeck-term, a small holder inside the sandbox
(deploy/sandbox/labdeck-term.c), so it belongs to no web process: a reload,
or a restart of the web process, attaches a new client to the same shell,
and any web process can do it (no sticky routing). A session here is one
such client (`labdeck-term attach`, an exec without a TTY through the
backend's relay): the holder sends the window size, replays the recent
output and the terminal modes in force, then passes the shell's output on
as it comes; keystrokes and sizes go the other way. Each message is a frame
of the holder's (a type byte, a 4-byte length, the payload); the holder
is the learner's program like any other, so every frame is bounded here.

Flow control follows the xterm.js guide: the client acknowledges what it has
rendered; above HIGH unacknowledged bytes the session stops reading (the
holder then stops reading the shell, so a flood waits in the kernel, not in
our memory) and resumes below LOW.
"""
from __future__ import annotations

import asyncio
import logging
import struct
import time
from typing import Protocol

from sandboxes.backends import BackendUnavailable, SandboxError, get_backend
from sandboxes.backends.base import HOST_RESTARTED, AsyncRelayStream

log = logging.getLogger(__name__)

HIGH = 256 * 1024
LOW = 32 * 1024
READ_SIZE = 64 * 1024

HOLDER = "/usr/local/bin/labdeck-term"
# The learner's client starts the shell if there is none; a watcher's is
# read-only (its keys and size are ignored by the holder) and never does.
LEARNER = [HOLDER, "attach"]
WATCHER = [HOLDER, "attach", "-r"]
# The holder's frames: to it keystrokes and the window size; from it the
# window size, output, "detached" (a newer tab took over), the exit status.
INPUT, SIZE = b"I", b"W"
HELLO, OUTPUT, DETACHED, EXITED = ord("H"), ord("O"), ord("D"), ord("X")
KINDS = frozenset((HELLO, OUTPUT, DETACHED, EXITED))
HEAD = struct.Struct(">cI")
# A longer frame cannot come from the holder (it sends at most 64 KiB).
MAX_FRAME = 1 << 20
# Frames that carry no output (sizes, empty output) are rare from the
# holder: one per resize. Past this many a second, flow control (which
# counts output) would not bound them, so the link counts as broken.
MAX_CONTROLS = 200
# How long a session waits for its sandbox's engine to come back (it
# restarts in seconds; a host reboot, with the sandbox started again, in a
# minute or so) before it gives the page up.
REATTACH_FOR = 180.0


class Client(Protocol):
    async def send_output(self, data: bytes) -> None: ...
    async def send_status(self, state: str, message: str, **extra) -> None: ...
    async def send_exit(self, code: int) -> None: ...
    async def send_ended(self, how: str) -> None: ...


class BrokenLink(Exception):
    """The other end does not speak the holder's frames."""


class Frames:
    """The holder's frames out of the bytes of its stream, as they arrive.
    BrokenLink when the stream does not look like the holder's: a frame
    too long, a kind it never sends, or too many frames without output."""

    def __init__(self):
        self.buffer = b""
        self.window, self.controls = 0.0, 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buffer = self.buffer + data if self.buffer else data
        frames, at, end = [], 0, len(buffer)
        while end - at >= 5:
            kind, size = HEAD.unpack_from(buffer, at)
            kind = kind[0]
            if size > MAX_FRAME or kind not in KINDS:
                raise BrokenLink(f"a frame of kind {kind} and {size} bytes")
            if end - at - 5 < size:
                break
            if kind != OUTPUT or not size:
                self._control()
            frames.append((kind, buffer[at + 5:at + 5 + size]))
            at += 5 + size
        self.buffer = buffer[at:]
        return frames

    def _control(self) -> None:
        now = time.monotonic()
        if now - self.window >= 1:
            self.window, self.controls = now, 0
        self.controls += 1
        if self.controls > MAX_CONTROLS:
            raise BrokenLink(f"more than {MAX_CONTROLS} frames without output in a second")


def frame(kind: bytes, payload: bytes) -> bytes:
    return HEAD.pack(kind, len(payload)) + payload


async def attach(handle: str, argv: list[str], cols: int, rows: int) -> AsyncRelayStream:
    """A new client of the sandbox's holder. SandboxError or BackendUnavailable."""
    return await get_backend().open_relay_async(handle, [*argv, str(cols), str(rows)])


class TerminalSession:
    """One holder client for one browser connection. When the client's
    stream breaks while the sandbox lives on (its engine restarted, a relay
    dropped), the session attaches a new client by itself, for up to
    REATTACH_FOR seconds, and the page only sees "reconnecting"."""

    def __init__(self, handle: str, link: AsyncRelayStream, client: Client, argv: list[str],
                 cols: int, rows: int, watcher: bool):
        self.handle, self.link, self.client, self.argv = handle, link, client, argv
        self.cols, self.rows, self.watcher = cols, rows, watcher
        self.size: tuple[int, int] | None = None  # the shell's, as the holder says
        self.unacked = 0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.closed = False
        # Set when this side ends the client (or its connection broke): then
        # there is nobody to tell how it ended.
        self.closing = False
        self.attached = True  # False while a new client is being attached
        self.pump_task: asyncio.Task | None = None

    def start(self) -> None:
        self.pump_task = asyncio.get_running_loop().create_task(self._pump())

    async def input(self, data: bytes) -> None:
        if self.attached and not self.watcher:  # keys typed while reattaching have no shell to go to
            await self.link.send(frame(INPUT, data))

    async def resize(self, cols: int, rows: int) -> None:
        self.cols, self.rows = cols, rows
        if self.attached and not self.watcher:
            await self.link.send(frame(SIZE, struct.pack(">HH", cols, rows)))

    def ack(self, count: int) -> None:
        self.unacked = max(0, self.unacked - count)
        if self.unacked < LOW:
            self.flowing.set()

    async def _pump(self) -> None:
        try:
            short_lived = 0
            while True:
                began = asyncio.get_running_loop().time()
                how = await self._follow()
                if self.closing:
                    return
                if how is None:
                    how = await self._why_broken()
                lived = asyncio.get_running_loop().time() - began
                short_lived = short_lived + 1 if lived < 1 else 0
                if how not in ("broken", "unavailable") or short_lived >= 3:
                    return await self._tell_ended(how)
                how = await self._reattach()
                if how:
                    return await self._tell_ended(how)
        except Exception:
            log.exception("terminal session %s failed", self.handle)
        finally:
            self.closed = True

    async def _follow(self) -> str | int | None:
        """Forward the holder's output until its stream ends: the shell's
        exit status, "detached", or None when the stream just stopped."""
        frames = Frames()
        while True:
            await self.flowing.wait()
            data = await self.link.recv(READ_SIZE)
            if not data:
                return None
            try:
                received = frames.feed(data)
            except BrokenLink as exc:
                log.warning("terminal %s: %s", self.handle, exc)
                return None
            # The output frames of one read go to the page as one message.
            output: list[bytes] = []
            for kind, payload in received:
                if kind == OUTPUT:
                    output.append(payload)
                    continue
                if output:
                    await self._deliver(b"".join(output))
                    output = []
                if kind == HELLO and len(payload) == 4:
                    await self._sized(*struct.unpack(">HH", payload))
                elif kind == EXITED and len(payload) == 4:
                    return struct.unpack(">i", payload)[0]
                elif kind == DETACHED:
                    return "detached"
            if output:
                await self._deliver(b"".join(output))

    async def _sized(self, cols: int, rows: int) -> None:
        """A watcher shows the learner's screen at its own size."""
        if self.watcher and (cols, rows) != self.size:
            await self.client.send_status("size", "", cols=cols, rows=rows)
        self.size = (cols, rows)

    async def _why_broken(self) -> str:
        """Why a client's stream stopped: gone (the sandbox), unavailable
        (its engine) or broken (the client alone)."""
        try:
            state = await asyncio.to_thread(get_backend().poll, self.handle)
        except BackendUnavailable:
            return "unavailable"
        return "broken" if state is None else "gone"

    async def _reattach(self) -> str:
        """Attach a new client to the same shell, waiting for the engine or
        the sandbox to come back; "" once attached, else how it ended."""
        self.attached = False
        await self.client.send_status("reconnecting", "Lost the connection to your sandbox; reconnecting…")
        deadline = asyncio.get_running_loop().time() + REATTACH_FOR
        delay = 0.25
        while asyncio.get_running_loop().time() < deadline:
            try:
                state = await asyncio.to_thread(get_backend().poll, self.handle)
                if state is None:
                    link = await attach(self.handle, self.argv, self.cols, self.rows)
                    old, self.link, self.attached = self.link, link, True
                    await old.close()
                    # The holder replays the screen next: the page clears first.
                    await self.client.send_status("ready", "Reconnected.", reset=True)
                    return ""
                if state != HOST_RESTARTED:
                    return "gone"  # the keeper starts again only what a restarted host stopped
            except BackendUnavailable:
                pass  # the engine is not back yet
            except SandboxError as exc:
                log.info("terminal %s: reattach: %s", self.handle, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        return "unavailable"

    async def _tell_ended(self, how: str | int) -> None:
        """Say truthfully how the shell's client ended."""
        if isinstance(how, int):
            return await self.client.send_exit(how)
        await self.client.send_ended(how)

    async def _deliver(self, data: bytes) -> None:
        self.unacked += len(data)
        if self.unacked > HIGH:
            self.flowing.clear()
        try:
            await self.client.send_output(data)
        except Exception as exc:
            # The connection closed while we wrote to it, before its disconnect ran.
            log.info("terminal %s: client gone while writing (%s)", self.handle, exc)
            self.closing = True
            raise

    async def close(self) -> None:
        """Detach: the shell goes on in the sandbox."""
        self.closing = True
        self.closed = True
        if self.pump_task is not None:
            self.pump_task.cancel()
        await self.link.close()


async def open_session(handle: str, client: Client, cols: int, rows: int, watcher: bool = False) -> TerminalSession:
    """A holder client on the sandbox's shell: the learner's (which starts the
    shell if there is none) or a read-only watcher's. Raises SandboxError or
    BackendUnavailable."""
    argv = WATCHER if watcher else LEARNER
    link = await attach(handle, argv, cols, rows)
    session = TerminalSession(handle, link, client, argv, cols, rows, watcher)
    await client.send_status("ready", "Watching (read-only)." if watcher else "Connected.", reset=True)
    session.start()
    return session


def terminal_group(handle: str) -> str:
    """The terminals open on one sandbox, in every web process: the learner's
    and the instructors' watching it."""
    return f"terminal.{handle}"
