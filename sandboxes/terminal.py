"""Terminal sessions: one browser connection to the sandbox's shell.

The shell runs under a tmux server of its own inside the sandbox (`tmux -L
labdeck`, deploy/sandbox/tmux.conf), so it belongs to no web process: a
reload, or a restart of the web process, attaches a new tmux client to the
same shell, and any web process can do it (no sticky routing). A session
here is one such client: it replays the shell's scrollback (tmux's history)
then the client's own drawing of the screen, forwards output with flow
control, and says truthfully how it ended.

Flow control follows the xterm.js guide: the client acknowledges what it has
rendered; above HIGH unacknowledged bytes the session stops reading (so a
flood waits in tmux, which only keeps the screen, not in our memory) and
resumes below LOW.
"""
from __future__ import annotations

import asyncio
import logging
import shlex
from typing import Protocol

from sandboxes.backends import BackendUnavailable, SandboxError, get_backend
from sandboxes.backends.base import HOST_RESTARTED, TerminalStream

log = logging.getLogger(__name__)

HIGH = 256 * 1024
LOW = 32 * 1024
READ_SIZE = 64 * 1024

TMUX = ["tmux", "-L", "labdeck", "-f", "/etc/labdeck/tmux.conf", "-u"]
SESSION = "main"
STATUS_FILE = "/run/labdeck-shell.status"
# The shell, and where its exit status goes when it ends (tmux cannot tell).
SHELL = f"bash -l; echo $? > {STATUS_FILE}"
# The learner's client: attach, or start the shell; other clients that still
# hold it (a tab left open, a web process that died) are detached.
LEARNER = [*TMUX, "new-session", "-A", "-D", "-s", SESSION, "-e", "LABDECK_TMUX=1", SHELL]
# An instructor's client: read-only, and it never sets the window's size.
WATCHER = [*TMUX, "attach-session", "-r", "-f", "ignore-size", "-t", SESSION]
HISTORY_LINES = 2000
# How long a session waits for its sandbox's engine to come back (it
# restarts in seconds; a host reboot, with the sandbox started again, in a
# minute or so) before it gives the page up.
REATTACH_FOR = 180.0
# How a tmux client says why it ended, on its last line.
DETACHED, EXITED = b"[detached", b"[exited]"


class Client(Protocol):
    async def send_output(self, data: bytes) -> None: ...
    async def send_status(self, state: str, message: str, **extra) -> None: ...
    async def send_exit(self, code: int) -> None: ...
    async def send_ended(self, how: str) -> None: ...


def history(handle: str, rows: int) -> bytes:
    """The shell's scrollback above the screen, as terminal output, then
    enough new lines to push it all into the browser's scrollback (the tmux
    client redraws the screen itself). Blocking: a bounded exec."""
    script = (f"{shlex.join(TMUX)} capture-pane -p -e -J -S -{HISTORY_LINES} -E -1 -t {SESSION} 2>/dev/null")
    result = get_backend().exec(handle, ["sh", "-c", script], 10, 4 << 20)
    lines = result.output.rstrip(b"\n").split(b"\n") if result.exit_code == 0 and result.output.strip() else []
    return b"\r\n".join(lines) + b"\r\n" * (rows if lines else 0)


def window_size(handle: str) -> tuple[int, int] | None:
    """The learner's screen, as tmux has it: (cols, rows)."""
    script = f"{shlex.join(TMUX)} display-message -p -t {SESSION} '#{{window_width}} #{{window_height}}'"
    result = get_backend().exec(handle, ["sh", "-c", script], 5, 256)
    parts = result.output.split()
    if result.exit_code != 0 or len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1])


def shell_status(handle: str) -> int | None:
    """The exit status the shell left when it ended, if it did."""
    raw = get_backend().read_file(handle, STATUS_FILE, 16)
    text = raw.decode(errors="replace").strip() if raw else ""
    return int(text) if text.lstrip("-").isdigit() else None


class TerminalSession:
    """One tmux client for one browser connection. When the client's stream
    breaks while the sandbox lives on (its engine restarted, a relay
    dropped), the session attaches a new client by itself, for up to
    REATTACH_FOR seconds, and the page only sees "reconnecting"."""

    def __init__(self, handle: str, stream: TerminalStream, client: Client, argv: list[str],
                 cols: int, rows: int):
        self.handle, self.stream, self.client, self.argv = handle, stream, client, argv
        self.cols, self.rows = cols, rows
        self.tail = b""
        self.unacked = 0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.closed = False
        # Set when this side ends the client (or its connection broke): then
        # there is nobody to tell how it ended.
        self.closing = False
        self.attached = True  # False while a new client is being attached
        self.pump_task: asyncio.Task | None = None

    def start(self, replay: bytes = b"") -> None:
        self.pump_task = asyncio.get_running_loop().create_task(self._pump(replay))

    async def input(self, data: bytes) -> None:
        if self.attached:  # keys typed while reattaching have no shell to go to
            await self.stream.write(data)

    async def resize(self, cols: int, rows: int) -> None:
        self.cols, self.rows = cols, rows
        if self.attached:
            await self.stream.resize(cols, rows)

    def ack(self, count: int) -> None:
        self.unacked = max(0, self.unacked - count)
        if self.unacked < LOW:
            self.flowing.set()

    async def _pump(self, replay: bytes) -> None:
        try:
            if replay:
                await self._deliver(replay)
            short_lived = 0
            while True:
                began = asyncio.get_running_loop().time()
                await self._follow()
                if self.closing:
                    return
                how = await self._why_ended()
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

    async def _follow(self) -> None:
        """Forward the client's output until its stream ends."""
        while True:
            await self.flowing.wait()
            data = await self.stream.read(READ_SIZE)
            if not data:
                return
            self.tail = (self.tail + data)[-256:]
            await self._deliver(data)

    async def _why_ended(self) -> str:
        """How the tmux client ended: detached, exited, gone (the sandbox),
        unavailable (its engine) or broken (the client alone)."""
        if DETACHED in self.tail:
            return "detached"
        if EXITED in self.tail:
            return "exited"
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
                    replay = await asyncio.to_thread(history, self.handle, self.rows)
                    stream = await get_backend().open_terminal(self.handle, self.cols, self.rows, argv=self.argv)
                    old, self.stream, self.tail, self.attached = self.stream, stream, b"", True
                    await old.close()
                    await self.client.send_status("ready", "Reconnected.", reset=True)
                    if replay:
                        await self._deliver(replay)
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

    async def _tell_ended(self, how: str) -> None:
        """Say truthfully how the shell's client ended."""
        if how == "exited":
            try:
                code = await asyncio.to_thread(shell_status, self.handle)
            except (SandboxError, BackendUnavailable):
                code = None
            return await self.client.send_exit(code if code is not None else -1)
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
        await self.stream.close()


async def open_session(handle: str, client: Client, cols: int, rows: int, watcher: bool = False) -> TerminalSession:
    """A tmux client on the sandbox's shell: the learner's (which starts the
    shell if there is none) or a read-only watcher's. Raises SandboxError or
    BackendUnavailable."""
    replay = await asyncio.to_thread(history, handle, rows)
    argv = WATCHER if watcher else LEARNER
    stream = await get_backend().open_terminal(handle, cols, rows, argv=argv)
    session = TerminalSession(handle, stream, client, argv, cols, rows)
    await client.send_status("ready", "Watching (read-only)." if watcher else "Connected.", reset=True)
    session.start(replay)
    return session


def terminal_group(handle: str) -> str:
    """The terminals open on one sandbox, in every web process: the learner's
    and the instructors' watching it."""
    return f"terminal.{handle}"
