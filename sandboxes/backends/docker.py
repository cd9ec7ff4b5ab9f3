"""The `docker` backend: one Docker engine runs every sandbox.

A sandbox is a container from the sandbox image that runs its own dockerd.
It is not privileged: it gets an explicit capability set, a private cgroup
namespace, limits on memory, CPU and processes, its inner /var/lib/docker on
a volume of its own, and a place on a network where sandboxes cannot reach
each other. Every Docker call of Labdeck passes through this module.
"""
from __future__ import annotations

import asyncio
import json
import logging
import secrets
import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import docker
import docker.errors
import requests.exceptions
from django.conf import settings

from sandboxes.backends.base import (
    Backend,
    BackendUnavailable,
    ExecResult,
    ManagedSandbox,
    SandboxError,
    TerminalStream,
)

log = logging.getLogger(__name__)

LABEL_SANDBOX = "org.labdeck.sandbox"
LABEL_INSTANCE = "org.labdeck.instance"

# What the inner engine and chapter 6 need beyond Docker's default set:
# mounts and namespaces (SYS_ADMIN), bridges and iptables (NET_ADMIN),
# nsenter into other processes (SYS_PTRACE). Everything else stays dropped,
# including SYS_MODULE, SYS_RAWIO, SYS_TIME, SYS_BOOT and SYS_RESOURCE.
CAPABILITIES = ["SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"]
# seccomp: the default profile refuses keyctl, which runc inside needs for
# every container. systempaths: runc inside mounts a fresh /proc, which the
# kernel refuses while parts of the outer /proc are masked.
SECURITY_OPT = ["seccomp=unconfined"]
# The sandbox init prints this line once its engine answers.
READY_LINE = b"labdeck-ready"

_UNAVAILABLE = (requests.exceptions.ConnectionError, docker.errors.DockerException)


def _unavailable(exc: Exception) -> BackendUnavailable:
    return BackendUnavailable(f"sandbox host unavailable: {exc.__class__.__name__}")


@contextmanager
def _exec_errors(handle: str) -> Iterator[None]:
    """Engine errors of a command in a sandbox, as the interface names them."""
    try:
        yield
    except docker.errors.NotFound as exc:
        raise SandboxError(f"sandbox {handle} is gone") from exc
    except docker.errors.APIError as exc:
        raise SandboxError(f"sandbox {handle}: {exc.explanation}") from exc
    except _UNAVAILABLE as exc:
        raise _unavailable(exc) from exc


class DockerTerminal(TerminalStream):
    """A TTY exec hijacked on a raw connection to the engine.

    The HTTP upgrade is done by hand on an asyncio stream instead of with
    the SDK's ``exec_start(socket=True)``, which can lose the first bytes
    of output in its response buffer (docker-py #3332). asyncio's reader
    keeps whatever arrived with the headers.
    """

    def __init__(self, backend: DockerBackend, handle: str, exec_id: str, pidfile: str,
                 reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.backend, self.handle, self.exec_id, self.pidfile = backend, handle, exec_id, pidfile
        self.reader, self.writer = reader, writer

    async def read(self, limit: int) -> bytes:
        try:
            return await self.reader.read(limit)
        except (ConnectionError, OSError):
            return b""

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def resize(self, cols: int, rows: int) -> None:
        await asyncio.to_thread(self.backend.resize_exec, self.exec_id, cols, rows)

    async def close(self) -> None:
        # The engine does not end an exec when its connection drops, so the
        # shell is ended explicitly through its pid file.
        self.writer.close()
        await asyncio.to_thread(
            self.backend.exec, self.handle,
            ["sh", "-c", f"[ -f {self.pidfile} ] && kill -HUP $(cat {self.pidfile}); rm -f {self.pidfile}"],
            10,
        )


class DockerBackend(Backend):
    def __init__(self, base_url: str, image: str, prefix: str, network: str, *,
                 memory: str, cpus: float, pids: int, image_cache: str = "",
                 registry_mirror: str = "", runtime: str = "", timeout: int = 30):
        self.base_url = base_url
        self.image, self.prefix, self.network = image, prefix, network
        self.memory, self.cpus, self.pids = memory, cpus, pids
        self.image_cache, self.registry_mirror, self.runtime = image_cache, registry_mirror, runtime
        self.timeout = timeout
        self._client: docker.DockerClient | None = None
        self._network_ready = False

    @classmethod
    def from_settings(cls) -> DockerBackend:
        return cls(
            settings.LABDECK_DOCKER_HOST,
            settings.LABDECK_SANDBOX_IMAGE,
            settings.LABDECK_NAME_PREFIX,
            settings.LABDECK_SANDBOX_NETWORK,
            memory=settings.LABDECK_SANDBOX_MEMORY,
            cpus=settings.LABDECK_SANDBOX_CPUS,
            pids=settings.LABDECK_SANDBOX_PIDS,
            image_cache=settings.LABDECK_IMAGE_CACHE,
            registry_mirror=settings.LABDECK_REGISTRY_MIRROR,
            runtime=settings.LABDECK_SANDBOX_RUNTIME,
        )

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                self._client = docker.DockerClient(base_url=self.base_url, timeout=self.timeout)
            except _UNAVAILABLE as exc:
                raise _unavailable(exc) from exc
        return self._client

    def ping(self) -> None:
        try:
            self.client.ping()
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc

    def labels(self, name: str, extra: dict[str, str]) -> dict[str, str]:
        return {LABEL_SANDBOX: name, LABEL_INSTANCE: self.prefix, **extra}

    def _ensure_network(self) -> None:
        if self._network_ready:
            return
        if not self.client.networks.list(names=[self.network]):
            try:
                # Inter-container traffic off: sandboxes share the network
                # but cannot reach each other.
                self.client.networks.create(
                    self.network, driver="bridge",
                    options={"com.docker.network.bridge.enable_icc": "false"},
                    labels={LABEL_INSTANCE: self.prefix},
                )
            except docker.errors.APIError as exc:
                if exc.status_code != 409:
                    raise
        self._network_ready = True

    def create(self, name: str, labels: dict[str, str]) -> str:
        labels = self.labels(name, labels)
        inner_args = f"--registry-mirror={self.registry_mirror}" if self.registry_mirror else ""
        volumes = {f"{name}-docker": {"bind": "/var/lib/docker", "mode": "rw"}}
        if self.image_cache:
            volumes[self.image_cache] = {"bind": "/opt/labdeck/images", "mode": "ro"}
        try:
            self._ensure_network()
            self.client.volumes.create(f"{name}-docker", labels=labels)
            api = self.client.api
            host_config = api.create_host_config(
                cap_add=CAPABILITIES, security_opt=SECURITY_OPT, cgroupns="private",
                mem_limit=self.memory, memswap_limit=self.memory,
                nano_cpus=int(self.cpus * 1e9), pids_limit=self.pids,
                binds=[f"{src}:{v['bind']}:{v['mode']}" for src, v in volumes.items()],
                network_mode=self.network, runtime=self.runtime or None,
            )
            # What `--security-opt systempaths=unconfined` means on the CLI;
            # the SDK has no keyword for it.
            host_config["MaskedPaths"] = []
            host_config["ReadonlyPaths"] = []
            api.create_container(
                self.image, name=name, hostname="labdeck", labels=labels, host_config=host_config,
                environment={"LABDECK_INNER_DOCKERD_ARGS": inner_args},
            )
            api.start(name)
        except docker.errors.ImageNotFound as exc:
            raise SandboxError(f"sandbox image {self.image} is missing: run `make images`") from exc
        except docker.errors.APIError as exc:
            self.destroy(name)
            raise SandboxError(f"could not create sandbox {name}: {exc.explanation}") from exc
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        return name

    def wait_ready(self, handle: str, timeout: float) -> None:
        """Follow the sandbox's log until its init says ready: no polling."""
        deadline = time.monotonic() + timeout
        seen = b""
        try:
            for chunk in self.client.api.logs(handle, stream=True, follow=True):
                seen = seen[-32:] + chunk
                if READY_LINE in seen:
                    return
                if time.monotonic() > deadline:
                    break
        except docker.errors.NotFound as exc:
            raise SandboxError(f"sandbox {handle} is gone") from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout):
            pass  # the engine's read timeout: decide below
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        state = self.poll(handle)
        if state is not None:
            raise SandboxError(f"sandbox {handle} stopped while starting ({state})")
        raise SandboxError(f"sandbox {handle} was not ready after {timeout:.0f} s")

    def poll(self, handle: str) -> str | None:
        try:
            container = self.client.containers.get(handle)
        except docker.errors.NotFound:
            return "gone"
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        return None if container.status == "running" else container.status

    def destroy(self, handle: str) -> None:
        try:
            try:
                self.client.api.remove_container(handle, force=True, v=True)
            except docker.errors.NotFound:
                pass
            for _ in range(50):
                try:
                    self.client.api.remove_volume(f"{handle}-docker", force=True)
                    break
                except docker.errors.NotFound:
                    break
                except docker.errors.APIError as exc:
                    if exc.status_code != 409:  # still in use while the container goes
                        raise
                    time.sleep(0.1)
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc

    def exec(self, handle: str, argv: list[str], timeout: float = 30) -> ExecResult:
        with _exec_errors(handle):
            api = self.client.api
            exec_id = api.exec_create(handle, ["timeout", str(int(timeout)), *argv])["Id"]
            output = api.exec_start(exec_id)
            code = api.exec_inspect(exec_id)["ExitCode"]
        return ExecResult(code if code is not None else -1, output)

    def resize_exec(self, exec_id: str, cols: int, rows: int) -> None:
        try:
            self.client.api.exec_resize(exec_id, height=rows, width=cols)
        except docker.errors.APIError:
            pass  # the shell may just have exited

    async def open_terminal(self, handle: str, cols: int, rows: int, argv: list[str] | None = None) -> TerminalStream:
        pidfile = f"/run/labdeck-shell-{secrets.token_hex(6)}"
        script = f"echo $$ > {pidfile}; exec {shlex.join(argv) if argv else 'bash -l'}"
        with _exec_errors(handle):
            created = await asyncio.to_thread(
                self.client.api.exec_create, handle, ["sh", "-c", script],
                stdin=True, tty=True, environment={"TERM": "xterm-256color"},
            )
        exec_id = created["Id"]
        reader, writer = await self._hijack(f"/exec/{exec_id}/start", {"Detach": False, "Tty": True})
        terminal = DockerTerminal(self, handle, exec_id, pidfile, reader, writer)
        await terminal.resize(cols, rows)
        return terminal

    async def _hijack(self, path: str, body: dict) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        url = urlparse(self.base_url)
        try:
            if url.scheme in ("unix", "http+unix"):
                reader, writer = await asyncio.open_unix_connection(url.path, limit=1 << 20)
            else:
                reader, writer = await asyncio.open_connection(url.hostname, url.port or 2375, limit=1 << 20)
        except OSError as exc:
            raise _unavailable(exc) from exc
        payload = json.dumps(body).encode()
        version = self.client.api._version
        writer.write(
            f"POST /v{version}{path} HTTP/1.1\r\nHost: docker\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode() + payload
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        if status not in (b"101", b"200"):
            writer.close()
            raise SandboxError(f"exec start failed: {head.decode(errors='replace').splitlines()[0]}")
        return reader, writer

    def list_managed(self) -> list[ManagedSandbox]:
        """Containers and volumes carrying this instance's labels."""
        found: dict[str, ManagedSandbox] = {}
        selector = {"label": [f"{LABEL_INSTANCE}={self.prefix}", LABEL_SANDBOX]}
        try:
            for c in self.client.containers.list(all=True, filters=selector):
                name = c.labels.get(LABEL_SANDBOX, c.name)
                found[name] = ManagedSandbox(name, name, c.labels, c.status == "running")
            for v in self.client.volumes.list(filters=selector):
                name = v.attrs["Labels"].get(LABEL_SANDBOX, "")
                if name and name not in found:
                    found[name] = ManagedSandbox(name, name, v.attrs["Labels"], False)
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        return list(found.values())

    def stats(self, handle: str) -> dict[str, int]:
        try:
            raw = self.client.api.stats(handle, stream=False)
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        memory = raw.get("memory_stats", {})
        cache = memory.get("stats", {}).get("cache", 0) or memory.get("stats", {}).get("inactive_file", 0)
        return {"memory_bytes": memory.get("usage", 0) - cache, "memory_limit": memory.get("limit", 0)}
