"""Several sandbox engines, each on a host of its own, as one backend.

LABDECK_SANDBOX_HOSTS names them, each with the address of its engine and
how many sandboxes it may hold:

    a=tcp://10.0.0.11:2376,capacity=60;b=tcp://10.0.0.12:2376,capacity=40

Each is a DockerBackend, reached over mutual TLS with the client
certificates of LABDECK_TLS_DIR (deploy/engine/certs.sh makes them). A
sandbox's handle names its host ("a/sb-..."), so that every call goes to the
engine that runs it. Placement (which host gets a new sandbox) is the pool's
decision (sandboxes.pool), from what the database says each host holds.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings

from sandboxes.backends.base import (
    EXEC_OUTPUT_LIMIT,
    AsyncRelayStream,
    Backend,
    BackendUnavailable,
    ExecResult,
    Host,
    ManagedSandbox,
    RelayStream,
    SandboxError,
    TerminalStream,
)
from sandboxes.backends.docker import DockerBackend

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,30}")


@dataclass(frozen=True)
class HostSetting:
    name: str
    url: str
    capacity: int


def parse_hosts(text: str) -> list[HostSetting]:
    """LABDECK_SANDBOX_HOSTS, or ValueError saying what is wrong with it."""
    hosts = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        name, equals, rest = item.partition("=")
        url, _, options = rest.partition(",")
        if not equals or not _NAME.fullmatch(name) or not url.startswith(("tcp://", "unix://")):
            raise ValueError(f"LABDECK_SANDBOX_HOSTS: {item!r} is not NAME=tcp://ADDRESS:PORT,capacity=N")
        capacity = options.removeprefix("capacity=")
        if not options.startswith("capacity=") or not capacity.isdigit() or int(capacity) < 1:
            raise ValueError(f"LABDECK_SANDBOX_HOSTS: {name} needs capacity=N (a whole number above 0)")
        if any(h.name == name for h in hosts):
            raise ValueError(f"LABDECK_SANDBOX_HOSTS: {name} is named twice")
        hosts.append(HostSetting(name, url, int(capacity)))
    if not hosts:
        raise ValueError("LABDECK_SANDBOX_HOSTS names no host")
    return hosts


class HostsBackend(Backend):
    def __init__(self, engines: dict[str, DockerBackend]):
        self.engines = engines

    @classmethod
    def from_settings(cls) -> HostsBackend:
        engines = {}
        for host in parse_hosts(settings.LABDECK_SANDBOX_HOSTS):
            engine = DockerBackend.from_settings()
            engine.base_url, engine.capacity = host.url, host.capacity
            engine.tls_dir = settings.LABDECK_TLS_DIR if host.url.startswith("tcp://") else ""
            engines[host.name] = engine
        return cls(engines)

    def _split(self, handle: str) -> tuple[DockerBackend, str]:
        host, _, name = handle.partition("/")
        engine = self.engines.get(host)
        if engine is None or not name:
            raise SandboxError(f"sandbox {handle}: its host {host!r} is not one of LABDECK_SANDBOX_HOSTS")
        return engine, name

    def engine(self, host: str) -> DockerBackend:
        if host not in self.engines:
            raise SandboxError(f"no sandbox host {host!r}")
        return self.engines[host]

    def ping(self) -> None:
        """Answers if any host answers."""
        errors = []
        for engine in self.engines.values():
            try:
                return engine.ping()
            except BackendUnavailable as exc:
                errors.append(exc)
        raise errors[0]

    def hosts(self) -> list[Host]:
        return [Host(name, engine.capacity) for name, engine in self.engines.items()]

    def ping_host(self, host: str) -> None:
        self.engine(host).ping()

    def prepare(self) -> str:
        lines = []
        for name, engine in self.engines.items():
            try:
                lines.append(f"{name}: {engine.prepare()}")
            except (BackendUnavailable, SandboxError) as exc:
                lines.append(f"{name}: {exc}")
        return "\n".join(lines)

    def create(self, name: str, labels: dict[str, str], host: str = "", nodes: int = 1) -> str:
        return f"{host}/{self.engine(host).create(name, {**labels, 'org.labdeck.host': host}, nodes=nodes)}"

    def node_handle(self, handle: str, node: int) -> str:
        engine, name = self._split(handle)
        return f"{handle.partition('/')[0]}/{engine.node_handle(name, node)}"

    def wait_ready(self, handle: str, timeout: float) -> None:
        engine, name = self._split(handle)
        engine.wait_ready(name, timeout)

    def poll(self, handle: str) -> str | None:
        engine, name = self._split(handle)
        return engine.poll(name)

    def restart(self, handle: str) -> None:
        engine, name = self._split(handle)
        engine.restart(name)

    def destroy(self, handle: str) -> None:
        engine, name = self._split(handle)
        engine.destroy(name)

    def exec(self, handle: str, argv: list[str], timeout: float = 30,
             limit: int = EXEC_OUTPUT_LIMIT) -> ExecResult:
        engine, name = self._split(handle)
        return engine.exec(name, argv, timeout, limit)

    def open_relay(self, handle: str, argv: list[str], timeout: float) -> RelayStream:
        engine, name = self._split(handle)
        return engine.open_relay(name, argv, timeout)

    async def open_relay_async(self, handle: str, argv: list[str]) -> AsyncRelayStream:
        engine, name = self._split(handle)
        return await engine.open_relay_async(name, argv)

    async def open_terminal(self, handle: str, cols: int, rows: int, argv: list[str] | None = None) -> TerminalStream:
        engine, name = self._split(handle)
        return await engine.open_terminal(name, cols, rows, argv)

    def read_file(self, handle: str, path: str, limit: int) -> bytes | None:
        engine, name = self._split(handle)
        return engine.read_file(name, path, limit)

    def write_file(self, handle: str, path: str, data: bytes, mode: int | None = None) -> None:
        engine, name = self._split(handle)
        engine.write_file(name, path, data, mode)

    def list_managed(self, host: str | None = None) -> list[ManagedSandbox]:
        found = []
        for name in [host] if host is not None else list(self.engines):
            for managed in self.engine(name).list_managed():
                found.append(ManagedSandbox(f"{name}/{managed.handle}", managed.name, managed.labels, managed.running))
        return found

    def stats(self, handle: str) -> dict[str, int]:
        engine, name = self._split(handle)
        return engine.stats(name)
