"""The sandbox backend interface, in the manner of JupyterHub's Spawner.

A backend knows how to make, watch and unmake sandboxes on some kind of
worker (one Docker engine, several, a Kubernetes cluster). Everything else in
Labdeck talks to sandboxes through this interface only. Each method's
docstring is its contract; a backend overrides all the abstract ones.

What runs in a sandbox belongs to the learner, who is root there and may be
hostile: every call that reads from a sandbox is bounded in bytes and in
time on this side, and never relies on a program of the sandbox to stop
(a learner can replace `timeout`, `sh` or `docker`).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field

# What one exec may return before the rest is cut off.
EXEC_OUTPUT_LIMIT = 1 << 20

# Why a sandbox is not running, as poll() says it (else "exited (N)").
GONE = "gone"  # no such sandbox any more: someone removed it
OUT_OF_MEMORY = "out of memory"  # its own init was killed for lack of memory
HOST_RESTARTED = "host restarted"  # its host (or engine) went down under it; its disk is kept


class BackendUnavailable(Exception):
    """The worker (e.g. the Docker engine) cannot be reached right now."""


class SandboxError(Exception):
    """A sandbox could not be created or does not behave."""


@dataclass(frozen=True)
class ExecResult:
    """What a command printed (stdout and stderr, interleaved) and how it
    ended. exit_code is -1 when it did not end in time (timed_out) or the
    stream broke; truncated says the output went past its limit."""

    exit_code: int
    output: bytes
    truncated: bool = False
    timed_out: bool = False


@dataclass
class ManagedSandbox:
    handle: str
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    running: bool = True


@dataclass(frozen=True)
class Host:
    """A worker that runs sandboxes, and how many it may hold."""

    name: str
    capacity: int


class TerminalStream(abc.ABC):
    """A bidirectional byte stream to an interactive shell with a TTY."""

    @abc.abstractmethod
    async def read(self, limit: int) -> bytes:
        """Return up to ``limit`` bytes of output; b"" once the shell is gone."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None:
        """Send keystrokes to the shell, in order, without batching."""

    @abc.abstractmethod
    async def resize(self, cols: int, rows: int) -> None:
        """Change the TTY's window size."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the stream and end the shell process behind it."""


class RelayStream(abc.ABC):
    """A plain byte pipe to a program in the sandbox, without a TTY: what
    is written reaches its stdin unchanged, what it prints on stdout comes
    back unchanged (stderr is dropped). Used to reach the sandbox's own
    Docker engine through a relay such as socat, and a port of the sandbox
    for a preview (socat to 127.0.0.1:PORT): one pipe per connection."""

    @abc.abstractmethod
    def send(self, data: bytes) -> None:
        """Write to the program's stdin; raises TimeoutError past the deadline."""

    @abc.abstractmethod
    def recv(self, limit: int) -> bytes:
        """Up to ``limit`` bytes of stdout; b"" at the end. Raises
        TimeoutError once the deadline given at opening has passed."""

    @abc.abstractmethod
    def extend(self, timeout: float) -> None:
        """Move the deadline to ``timeout`` seconds from now (a pipe kept
        open for several calls gives each call its own)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the pipe; the program sees the end of its input."""


class AsyncRelayStream(abc.ABC):
    """RelayStream for asyncio code, with no deadline of its own: the caller
    bounds its waits (asyncio.wait_for)."""

    @abc.abstractmethod
    async def send(self, data: bytes) -> None: ...

    @abc.abstractmethod
    async def recv(self, limit: int) -> bytes: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


class Backend(abc.ABC):
    @abc.abstractmethod
    def ping(self) -> None:
        """Return if the worker answers; raise BackendUnavailable if not."""

    @abc.abstractmethod
    def prepare(self) -> str:
        """Make what sandboxes need on the worker (their network, say) and
        check that it can run them (the sandbox image is there); return a
        line that describes the worker. Harmless to repeat, and safe when
        several processes do it at once. SandboxError or BackendUnavailable."""

    @abc.abstractmethod
    def hosts(self) -> list[Host]:
        """The workers this backend places sandboxes on (a backend of one
        worker has one, named "")."""

    @abc.abstractmethod
    def ping_host(self, host: str) -> None:
        """Return if that worker answers; raise BackendUnavailable if not."""

    @abc.abstractmethod
    def create(self, name: str, labels: dict[str, str], host: str = "", nodes: int = 1) -> str:
        """Create and start a sandbox called ``name`` with these labels (plus
        the backend's own, which name its instance), on that worker. Return
        its handle: a short string, saved in the database with the worker's
        name, that finds it again after a restart of Labdeck. Raises
        SandboxError (nothing is left behind) or BackendUnavailable.

        ``nodes`` > 1 makes a node set: that many machines, node1 … nodeN,
        each with its own engine, on a private network of their own where
        each finds the others by name (and their engines on port 2375).
        The handle stands for the whole set: wait_ready, poll, restart,
        destroy, stats and list_managed act on every node; exec, terminals
        and files act on one machine, named by node_handle()."""

    @abc.abstractmethod
    def node_handle(self, handle: str, node: int) -> str:
        """The handle of machine ``node`` (1 … N) of a sandbox, for exec,
        open_terminal, open_relay, read_file and write_file; node 1 is the
        sandbox's own handle. Only names it: nothing is asked of the worker."""

    @abc.abstractmethod
    def wait_ready(self, handle: str, timeout: float) -> None:
        """Return once the sandbox's own engine answers; SandboxError if it
        stops or is not ready within ``timeout`` seconds."""

    @abc.abstractmethod
    def poll(self, handle: str) -> str | None:
        """None while the sandbox runs, else why not: GONE (removed),
        OUT_OF_MEMORY (its init was killed for lack of memory),
        HOST_RESTARTED (its host or engine went down under it: restart()
        may bring it back), or "exited (N)". BackendUnavailable if the
        worker is down."""

    @abc.abstractmethod
    def restart(self, handle: str) -> None:
        """Start again a sandbox that is not running, on the disk it had: its
        files and its inner engine's images, volumes and containers are
        kept; its processes (the shell, running containers) start afresh.
        Returns once it is started; wait_ready() says when it is ready.
        SandboxError if it cannot be."""

    @abc.abstractmethod
    def destroy(self, handle: str) -> None:
        """Remove the sandbox and its storage. Repeating it is harmless."""

    @abc.abstractmethod
    def exec(self, handle: str, argv: list[str], timeout: float = 30,
             limit: int = EXEC_OUTPUT_LIMIT) -> ExecResult:
        """Run argv in the sandbox to completion: at most ``timeout`` seconds
        and ``limit`` bytes of output, both enforced here. SandboxError if the
        sandbox is gone, BackendUnavailable if the worker is down."""

    @abc.abstractmethod
    def open_relay(self, handle: str, argv: list[str], timeout: float) -> RelayStream:
        """Start argv in the sandbox and return a pipe to it; every send and
        recv fails with TimeoutError once ``timeout`` seconds have passed."""

    @abc.abstractmethod
    async def open_relay_async(self, handle: str, argv: list[str]) -> AsyncRelayStream:
        """open_relay() for asyncio code (e.g. following the inner engine's
        events, a preview's proxied connection)."""

    @abc.abstractmethod
    async def open_terminal(self, handle: str, cols: int, rows: int, argv: list[str] | None = None) -> TerminalStream:
        """A TTY stream to a login shell, or to argv."""

    @abc.abstractmethod
    def read_file(self, handle: str, path: str, limit: int) -> bytes | None:
        """The first ``limit`` bytes of a regular file of the sandbox, read by
        the worker, not by a program of the sandbox; None when there is no
        such regular file."""

    @abc.abstractmethod
    def write_file(self, handle: str, path: str, data: bytes, mode: int | None = None) -> None:
        """Make ``path`` a regular file of the sandbox that holds ``data``,
        with the permission bits ``mode`` (None: those of the regular file
        that was there, so that a saved script stays executable; 0644 for a
        new file), owned by the sandbox's root;
        written by the worker, not by a program of the sandbox (a learner
        can replace `sh` or `cat`, or fill the process table).

        ``path`` is absolute and taken lexically first ("/root/../etc/x" is
        "/etc/x"; ValueError if it is relative or names no file). What is at
        ``path`` is replaced, never followed: a file or a symlink there gives
        way to a new file, so nothing is written where a symlink pointed; a
        directory there is refused. Missing parent directories are created
        (mode 0755, the sandbox root's); symlinks among the parents are
        resolved inside the sandbox's own root, so a write never leaves the
        sandbox. The file lands in the sandbox's filesystem as the worker
        sees it: under a mount made inside the sandbox (the tmpfs on /tmp)
        it is hidden by that mount. SandboxError, with a message a learner
        can read, if the sandbox is gone or the file cannot be written
        there (a directory, a read-only place, a full quota);
        BackendUnavailable if the worker is down."""

    @abc.abstractmethod
    def list_managed(self, host: str | None = None) -> list[ManagedSandbox]:
        """Every sandbox this backend's instance manages (on that worker, or
        on all), with its labels, so that the reaper can find orphans and
        the dead. BackendUnavailable if a worker asked about does not answer."""

    def stats(self, handle: str) -> dict[str, int]:
        """Resource figures (e.g. memory bytes) where the backend can tell."""
        return {}
