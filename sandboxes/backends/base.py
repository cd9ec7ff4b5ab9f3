"""The sandbox backend interface, in the manner of JupyterHub's Spawner.

A backend knows how to make, watch and unmake sandboxes on some kind of
worker (one Docker engine, a Swarm, a Kubernetes cluster). Everything else in
Labdeck talks to sandboxes through this interface only. Override:

- ``create(name, labels)``: start a sandbox, return its handle (small, saved
  in the database so a restart finds it).
- ``wait_ready(handle, timeout)``: return once the inner engine answers.
- ``poll(handle)``: None while running, else a short reason it is not.
- ``destroy(handle)``: remove it and its storage; repeating it is harmless.
- ``open_terminal(handle, cols, rows, argv)``: an interactive TTY stream (a shell
  unless argv says otherwise).
- ``exec(handle, argv)``: run a command to completion, collect its output.
- ``list_managed()``: every sandbox this backend manages, with its labels,
  so that the reaper can find orphans.
- ``ping()``: raise BackendUnavailable when the worker cannot be reached.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field


class BackendUnavailable(Exception):
    """The worker (e.g. the Docker engine) cannot be reached right now."""


class SandboxError(Exception):
    """A sandbox could not be created or does not behave."""


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: bytes


@dataclass
class ManagedSandbox:
    handle: str
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    running: bool = True


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


class Backend(abc.ABC):
    @abc.abstractmethod
    def ping(self) -> None: ...

    @abc.abstractmethod
    def create(self, name: str, labels: dict[str, str]) -> str: ...

    @abc.abstractmethod
    def wait_ready(self, handle: str, timeout: float) -> None: ...

    @abc.abstractmethod
    def poll(self, handle: str) -> str | None: ...

    @abc.abstractmethod
    def destroy(self, handle: str) -> None: ...

    @abc.abstractmethod
    def exec(self, handle: str, argv: list[str], timeout: float = 30) -> ExecResult: ...

    @abc.abstractmethod
    async def open_terminal(self, handle: str, cols: int, rows: int, argv: list[str] | None = None) -> TerminalStream:
        """A TTY stream to a login shell, or to argv (e.g. a watcher of engine events)."""

    @abc.abstractmethod
    def list_managed(self) -> list[ManagedSandbox]: ...

    def stats(self, handle: str) -> dict[str, int]:
        """Resource figures (e.g. memory bytes) where the backend can tell."""
        return {}
