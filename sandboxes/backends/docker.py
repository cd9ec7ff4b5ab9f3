"""The `docker` backend: a Docker engine dedicated to sandboxes runs them.

That engine (deploy/engine/start.sh) gives each sandbox a user namespace, so
root in a sandbox is an unprivileged uid on the host; our seccomp profile;
Docker's default masked paths; cgroup limits that the sandbox cannot raise
(labdeck-runc hands it its cgroup directory, not its files); and btrfs, so
that each sandbox has a disk quota of its own. Here a sandbox is a container
of the sandbox image that runs its own dockerd, with the capabilities that
engine needs, a private cgroup namespace, memory, CPU, process and disk
limits, and a place on a bridge where the host's firewall
(deploy/engine/firewall.sh) keeps sandboxes apart. Every Docker call of
Labdeck passes through this module.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import ipaddress
import json
import logging
import os
import posixpath
import random
import secrets
import shlex
import socket
import ssl
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import urlparse

import docker
import docker.errors
import docker.tls
import requests.exceptions
from django.conf import settings

from sandboxes.backends.base import (
    EXEC_OUTPUT_LIMIT,
    GONE,
    HOST_RESTARTED,
    OUT_OF_MEMORY,
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
from sandboxes.dockerstream import STDOUT, Demux

log = logging.getLogger(__name__)

LABEL_SANDBOX = "org.labdeck.sandbox"
LABEL_INSTANCE = "org.labdeck.instance"
# A node set's machines: which node this is, and how many the set has.
LABEL_NODE = "org.labdeck.node"
LABEL_NODES = "org.labdeck.nodes"
# Each node of a set reaches the others' engines here (over the set's own
# network only): `docker -H node2 swarm join ...` from node1.
NODE_ENGINE_PORT = 2375
# Where the set's network is chosen from, one /28 per set (13 nodes at most).
NODE_SUBNET_PREFIX = 28

# What the inner engine and chapter 6 need beyond Docker's default set:
# mounts and namespaces (SYS_ADMIN), bridges and iptables (NET_ADMIN),
# nsenter into other processes (SYS_PTRACE). All three hold only in the
# sandbox's own user namespace. Everything else stays dropped, including
# SYS_MODULE, SYS_RAWIO, SYS_TIME, SYS_BOOT and SYS_RESOURCE.
CAPABILITIES = ["SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE"]
# The sandbox init prints this line once its engine answers.
READY_LINE = b"labdeck-ready"
# Docker 20.10's; every later engine still speaks it.
API_VERSION = "1.41"
# Names of the sandbox bridges start with this (deploy/engine/firewall.sh).
BRIDGE_PREFIX = "ldk-"

_UNAVAILABLE = (requests.exceptions.ConnectionError, requests.exceptions.Timeout, docker.errors.DockerException)
# A host that does not answer a ping in this many seconds counts as down.
PING_TIMEOUT = 5


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


# What the engine says when a file cannot be written, as a learner reads it.
_WRITE_REFUSALS = [
    ("cannot overwrite directory", "{path} is a directory"),
    ("read-only file system", "{path} is in a read-only place"),
    ("not a directory", "a parent of {path} is a file, not a directory"),
    ("no such file or directory", "a parent of {path} leads nowhere (a dangling symlink?)"),
    ("device or resource busy", "{path} is managed by the sandbox engine and cannot be replaced"),
    ("quota exceeded", "the sandbox's disk is full: {path} was not written"),
    ("no space left", "the sandbox's disk is full: {path} was not written"),
]


def archive_member(path: str) -> str:
    """The tar member name that puts a file at ``path`` when the archive is
    extracted at the sandbox's "/": the path taken lexically, without its
    leading slash. ValueError if it is relative or names no file."""
    if not path.startswith("/") or "\0" in path:
        raise ValueError(f"not an absolute path: {path!r}")
    member = posixpath.normpath(path).lstrip("/")
    if not member:
        raise ValueError(f"names no file: {path!r}")
    return member


def write_refusal(path: str, explanation: str) -> str:
    """The engine's refusal of a write, without its internals."""
    lowered = explanation.lower()
    for words, message in _WRITE_REFUSALS:
        if words in lowered:
            return message.format(path=path)
    return f"{path} could not be written: {explanation.rpartition(': ')[2] or 'the engine refused it'}"


def bridge_name(network: str) -> str:
    """The Linux name of a sandbox network's bridge: short (15 bytes at most)
    and starting with BRIDGE_PREFIX, which the host's firewall matches."""
    return BRIDGE_PREFIX + hashlib.sha1(network.encode()).hexdigest()[:8]


def node_bridge_name(network: str) -> str:
    """The bridge of a node set's own network: BRIDGE_PREFIX + "n", which
    the firewall lets the set's nodes talk across (and nothing else)."""
    return BRIDGE_PREFIX + "n" + hashlib.sha1(network.encode()).hexdigest()[:10]


def node_container(name: str, node: int) -> str:
    """The container of node ``node`` of the set whose node1 is ``name``."""
    return name if node == 1 else f"{name}-n{node}"


def node_addresses(subnet: str, nodes: int) -> dict[str, str]:
    """node1…nodeN's addresses on their set's network: the gateway takes
    the first address, the nodes the next ones."""
    network = ipaddress.ip_network(subnet)
    if nodes + 2 > network.num_addresses:
        raise SandboxError(f"a set of {nodes} nodes does not fit in {subnet}")
    return {f"node{k}": str(network.network_address + 1 + k) for k in range(1, nodes + 1)}


class _Hijacked:
    """A raw connection to the engine after an exec's HTTP upgrade, with the
    bytes that arrived together with the headers."""

    def __init__(self, sock: socket.socket, early: bytes):
        self.sock, self.early = sock, early


class SyncRelay(RelayStream):
    def __init__(self, hijacked: _Hijacked, deadline: float):
        self.sock, self.deadline = hijacked.sock, deadline
        self.demux = Demux()
        self.pending = bytearray()
        self.ended = False
        if hijacked.early:
            self._take(hijacked.early)

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("relay deadline passed")
        return left

    def _take(self, data: bytes) -> None:
        for kind, payload in self.demux.feed(data):
            if kind == STDOUT:
                self.pending += payload

    def send(self, data: bytes) -> None:
        self.sock.settimeout(self._left())
        self.sock.sendall(data)

    def recv(self, limit: int) -> bytes:
        while not self.pending and not self.ended:
            self.sock.settimeout(self._left())
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise
            except OSError:
                data = b""
            if not data:
                self.ended = True
            else:
                self._take(data)
        out = bytes(self.pending[:limit])
        del self.pending[:limit]
        return out

    def extend(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class AsyncRelay(AsyncRelayStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.demux = Demux()
        self.pending = bytearray()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self, limit: int) -> bytes:
        while not self.pending:
            try:
                data = await self.reader.read(65536)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                return b""
            for kind, payload in self.demux.feed(data):
                if kind == STDOUT:
                    self.pending += payload
        out = bytes(self.pending[:limit])
        del self.pending[:limit]
        return out

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


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
        with contextlib.suppress(SandboxError, BackendUnavailable):
            await asyncio.to_thread(
                self.backend.exec, self.handle,
                ["sh", "-c", f"[ -f {self.pidfile} ] && kill -HUP $(cat {self.pidfile}); rm -f {self.pidfile}"],
                10, 4096,
            )


def tls_files(tls_dir: str) -> tuple[str, str, str]:
    """ca.pem, cert.pem and key.pem of a directory made by deploy/engine/certs.sh."""
    return tuple(os.path.join(tls_dir, name) for name in ("ca.pem", "cert.pem", "key.pem"))


def _regular(stat: dict) -> bool:
    """Whether the engine's stat of a path (archive API) is a regular file:
    no type bits above the permission bits (Go's os.FileMode), no link."""
    return not (stat.get("mode", 0) & 0xFFF00000 or stat.get("linkTarget"))


# Without egress no name outside resolves, and a lookup waits for its
# timeouts (Docker's embedded DNS does not answer when it cannot forward).
# The inner dockerd (20.10) looks up the registry's host name at every pull,
# even from a mirror (registry.isCIDRMatch): "docker.io" is answered from
# /etc/hosts, so that a first `docker run nginx` does not wait 10 s. The
# address is one the firewall refuses (TEST-NET-1); Docker Hub's pulls and
# logins use other names.
NO_EGRESS_HOSTS = {"docker.io": "192.0.2.1"}


class DockerBackend(Backend):
    """One Docker engine: its unix socket, or a TCP address reached over
    mutual TLS (tls_dir holds the client's certificates)."""

    def __init__(self, base_url: str, image: str, prefix: str, network: str, *,
                 memory: str, cpus: float, pids: int, disk: str = "", subnet: str = "",
                 image_cache: str = "", registry_mirror: str = "", runtime: str = "", timeout: int = 30,
                 capacity: int = 0, tls_dir: str = "", egress: bool = False, node_subnets: str = "10.220.0.0/16"):
        self.base_url, self.capacity, self.tls_dir, self.egress = base_url, capacity, tls_dir, egress
        self.node_subnets = node_subnets
        self.image, self.prefix, self.network = image, prefix, network
        self.memory, self.cpus, self.pids, self.disk, self.subnet = memory, cpus, pids, disk, subnet
        self.image_cache, self.registry_mirror, self.runtime = image_cache, registry_mirror, runtime
        self.timeout = timeout
        self._client: docker.DockerClient | None = None
        self._ping_client: docker.DockerClient | None = None
        self._network_id = ""

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
            disk=settings.LABDECK_SANDBOX_DISK,
            subnet=settings.LABDECK_SANDBOX_SUBNET,
            image_cache=settings.LABDECK_IMAGE_CACHE,
            registry_mirror=settings.LABDECK_REGISTRY_MIRROR,
            runtime=settings.LABDECK_SANDBOX_RUNTIME,
            capacity=settings.LABDECK_MAX_SANDBOXES,
            egress=settings.LABDECK_SANDBOX_EGRESS,
            node_subnets=settings.LABDECK_NODE_SUBNETS,
        )

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = self._connect_client(self.timeout)
        return self._client

    def _connect_client(self, timeout: float) -> docker.DockerClient:
        tls = None
        if self.tls_dir:
            ca, cert, key = tls_files(self.tls_dir)
            tls = docker.tls.TLSConfig(client_cert=(cert, key), ca_cert=ca, verify=True)
        try:
            if tls is None:
                return docker.DockerClient(base_url=self.base_url, timeout=timeout)
            # The API version is named so that nothing is asked before
            # trust_env is off: REQUESTS_CA_BUNDLE in the environment would
            # replace the engines' own CA.
            client = docker.DockerClient(base_url=self.base_url, timeout=timeout, tls=tls, version=API_VERSION)
            client.api.trust_env = False
            return client
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc

    def _tls(self) -> ssl.SSLContext | None:
        """The context of a raw connection (a hijacked exec) to a TLS engine."""
        if not self.tls_dir:
            return None
        ca, cert, key = tls_files(self.tls_dir)
        context = ssl.create_default_context(cafile=ca)
        context.load_cert_chain(cert, key)
        return context

    def ping(self) -> None:
        try:
            self.client.ping()
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc

    def hosts(self) -> list[Host]:
        return [Host("", self.capacity)]

    def ping_host(self, host: str) -> None:
        """A ping with a short timeout of its own: a host that is gone from
        the network must not hold the keeper for the client's 30 s."""
        if self._ping_client is None:
            self._ping_client = self._connect_client(PING_TIMEOUT)
        try:
            self._ping_client.ping()
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc

    def labels(self, name: str, extra: dict[str, str]) -> dict[str, str]:
        return {LABEL_SANDBOX: name, LABEL_INSTANCE: self.prefix, **extra}

    # -- the network ----------------------------------------------------------

    def ensure_network(self) -> str:
        """The id of the sandboxes' network, created if missing.

        Several processes may get here at once (a web process, the pool
        keeper, a set-up step) and Docker lets two networks share a name, so:
        the subnet and the bridge name are fixed, which makes a second
        concurrent create fail in the engine, and should two exist all the
        same, every process keeps the oldest and removes the others. From
        then on the network is named by its id, never by its name.
        """
        if self._network_id:
            return self._network_id
        api = self.client.api

        def same_name() -> list[dict]:
            return [n for n in api.networks(names=[self.network]) if n["Name"] == self.network]

        found = same_name()
        if not found:
            options = {"com.docker.network.bridge.name": bridge_name(self.network),
                       "com.docker.network.bridge.enable_icc": "false"}
            ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=self.subnet)]) \
                if self.subnet else None
            try:
                api.create_network(self.network, driver="bridge", options=options, ipam=ipam,
                                   labels={LABEL_INSTANCE: self.prefix}, check_duplicate=True)
            except docker.errors.APIError as exc:
                log.info("network %s: another process is making it (%s)", self.network, exc.explanation)
            # The other process's network holds the subnet before it is listed.
            deadline = time.monotonic() + 10
            while not (found := same_name()) and time.monotonic() < deadline:
                time.sleep(0.1)
        if not found:
            raise SandboxError(f"the sandbox network {self.network} could not be created")
        keep = min(found, key=lambda n: (n["Created"], n["Id"]))
        for extra in found:
            if extra["Id"] != keep["Id"]:
                log.warning("network %s exists twice: removing %s", self.network, extra["Id"][:12])
                with contextlib.suppress(docker.errors.APIError):
                    api.remove_network(extra["Id"])
        self._network_id = keep["Id"]
        return self._network_id

    def prepare(self) -> str:
        try:
            network = self.ensure_network()
            self.client.api.inspect_image(self.image)
            version = self.client.api.version()["Version"]
        except docker.errors.ImageNotFound as exc:
            raise SandboxError(f"sandbox image {self.image} is missing: run `make images`") from exc
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        return f"{self.base_url}: Docker {version}, network {self.network} ({network[:12]}), image {self.image}"

    # -- lifecycle ------------------------------------------------------------

    def create(self, name: str, labels: dict[str, str], host: str = "", nodes: int = 1) -> str:
        labels = self.labels(name, labels)
        try:
            if nodes == 1:
                self._create_machine(name, labels, self.ensure_network(), "labdeck", {})
                return name
            network, subnet = self._create_node_network(name)
            addresses = node_addresses(subnet, nodes)
            for node, (hostname, address) in enumerate(addresses.items(), start=1):
                # The engine lists a container's own name in its /etc/hosts.
                peers = {peer: at for peer, at in addresses.items() if peer != hostname}
                self._create_machine(node_container(name, node), {**labels, LABEL_NODE: str(node),
                                                                   LABEL_NODES: str(nodes)},
                                     network, hostname, peers, address)
        except docker.errors.ImageNotFound as exc:
            self.destroy(name)
            raise SandboxError(f"sandbox image {self.image} is missing: run `make images`") from exc
        except docker.errors.APIError as exc:
            self.destroy(name)
            raise SandboxError(f"could not create sandbox {name}: {exc.explanation}") from exc
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        return name

    def _create_machine(self, container: str, labels: dict[str, str], network: str, hostname: str,
                        peers: dict[str, str], address: str = "") -> None:
        """One sandbox machine: a container of the sandbox image, started.
        A node of a set has a fixed address on the set's network, finds its
        peers by name in /etc/hosts (this engine runs without iptables, so
        Docker's embedded DNS does not answer), and its engine also listens
        on that network for them."""
        inner_args = [f"--registry-mirror={self.registry_mirror}"] if self.registry_mirror else []
        if address:
            inner_args.append(f"--host=tcp://{address}:{NODE_ENGINE_PORT}")
        binds = [f"{self.image_cache}:/opt/labdeck/images:ro"] if self.image_cache else []
        api = self.client.api
        host_config = api.create_host_config(
            cap_add=CAPABILITIES, cgroupns="private",
            mem_limit=self.memory, memswap_limit=self.memory,
            nano_cpus=int(self.cpus * 1e9), pids_limit=self.pids,
            storage_opt={"size": self.disk} if self.disk else None,
            binds=binds, network_mode=network, runtime=self.runtime or None,
            extra_hosts={**({} if self.egress else NO_EGRESS_HOSTS), **peers} or None,
        )
        networking = api.create_networking_config(
            {network: api.create_endpoint_config(ipv4_address=address)}) if address else None
        api.create_container(
            self.image, name=container, hostname=hostname, labels=labels, host_config=host_config,
            environment={"LABDECK_INNER_DOCKERD_ARGS": " ".join(inner_args)}, networking_config=networking,
        )
        api.start(container)

    def _create_node_network(self, name: str) -> tuple[str, str]:
        """A network of its own for the node set ``name``, on a free /28 of
        node_subnets; two sets made at once may pick the same one, and the
        engine refuses the second: it picks again."""
        api = self.client.api
        space = list(ipaddress.ip_network(self.node_subnets).subnets(new_prefix=NODE_SUBNET_PREFIX))
        for _ in range(8):
            taken = {config.get("Subnet") for network in api.networks(filters={"label": LABEL_NODES})
                     for config in (network.get("IPAM") or {}).get("Config") or []}
            free = [subnet for subnet in space if str(subnet) not in taken]
            if not free:
                raise SandboxError(f"no room for another node set's network in {self.node_subnets}")
            subnet = str(random.choice(free))
            ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
            try:
                created = api.create_network(
                    name, driver="bridge", ipam=ipam, labels={LABEL_INSTANCE: self.prefix, LABEL_NODES: name},
                    options={"com.docker.network.bridge.name": node_bridge_name(name)})
                return created["Id"], subnet
            except docker.errors.APIError as exc:
                if "overlap" not in str(exc.explanation).lower():
                    raise
        raise SandboxError(f"could not find a free network for node set {name}")

    def _nodes(self, handle: str) -> list[str]:
        """The containers of a sandbox: itself, or every node of its set."""
        try:
            labels = self.client.api.inspect_container(handle)["Config"]["Labels"] or {}
        except docker.errors.NotFound:
            return [handle]
        nodes = int(labels.get(LABEL_NODES) or 1)
        return [node_container(handle, node) for node in range(1, nodes + 1)]

    def node_handle(self, handle: str, node: int) -> str:
        return node_container(handle, node)

    def wait_ready(self, handle: str, timeout: float) -> None:
        """Every node's, one after the other: they boot side by side."""
        deadline = time.monotonic() + timeout
        try:
            machines = self._nodes(handle)
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        for machine in machines:
            self._wait_machine(machine, max(0.1, deadline - time.monotonic()))

    def _wait_machine(self, handle: str, timeout: float) -> None:
        """Follow the machine's log until its init says ready: no polling."""
        deadline = time.monotonic() + timeout
        seen = b""
        try:
            # Only this start's lines: a restarted sandbox's log still holds
            # the ready line of its first start.
            started = self.client.api.inspect_container(handle)["State"]["StartedAt"]
            since = int(datetime.fromisoformat(started[:19]).replace(tzinfo=UTC).timestamp())
            for chunk in self.client.api.logs(handle, stream=True, follow=True, since=since):
                seen = seen[-32:] + chunk[-4096:]
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
        """A node set runs while all of its nodes run; else the first node
        that does not says why."""
        try:
            state, labels = self._poll_machine(handle)
            for node in range(2, int(labels.get(LABEL_NODES) or 1) + 1):
                if state is not None:
                    break
                state, _ = self._poll_machine(node_container(handle, node))
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        return state

    def _poll_machine(self, handle: str) -> tuple[str | None, dict[str, str]]:
        try:
            found = self.client.api.inspect_container(handle)
        except docker.errors.NotFound:
            return GONE, {}
        return self._why_not_running(found["State"]), found["Config"]["Labels"] or {}

    @staticmethod
    def _why_not_running(state: dict) -> str | None:
        if state.get("Running"):
            return None
        if state.get("OOMKilled"):
            return OUT_OF_MEMORY
        # What the engine records of containers that were running when its
        # host (or the engine and containerd) went down: 255, and no error.
        if state.get("ExitCode") == 255 and not state.get("Error"):
            return HOST_RESTARTED
        return f"exited ({state.get('ExitCode')})"

    def restart(self, handle: str) -> None:
        with _exec_errors(handle):
            for machine in self._nodes(handle):
                self.client.api.start(machine)

    def destroy(self, handle: str) -> None:
        """Every container of the sandbox (found by its label: a node set's
        nodes, even when node1 is gone already), then a node set's network."""
        api = self.client.api
        try:
            # By the sandbox's label alone: container names are the engine's
            # own, so no other instance has a sandbox of this name.
            found = api.containers(all=True, filters={"label": f"{LABEL_SANDBOX}={handle}"})
            machines = {handle, *(c["Names"][0].lstrip("/") for c in found)}
            for machine in sorted(machines):
                self._remove_machine(machine)
            for network in api.networks(names=[handle], filters={"label": LABEL_NODES}):
                if network["Name"] == handle:
                    with contextlib.suppress(docker.errors.NotFound):
                        api.remove_network(network["Id"])
        except docker.errors.APIError as exc:
            raise SandboxError(f"could not remove sandbox {handle}: {exc.explanation}") from exc
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc

    def _remove_machine(self, container: str) -> None:
        try:
            self.client.api.remove_container(container, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code == 409 and "already in progress" in str(exc.explanation):
                return  # someone else is removing it
            raise

    # -- commands and streams in a sandbox ------------------------------------

    def _connect(self, timeout: float) -> socket.socket:
        url = urlparse(self.base_url)
        try:
            if url.scheme in ("unix", "http+unix"):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(timeout)
                sock.connect(url.path)
            else:
                sock = socket.create_connection((url.hostname, url.port or 2375), timeout)
                context = self._tls()
                if context is not None:
                    sock = context.wrap_socket(sock, server_hostname=url.hostname)
        except OSError as exc:
            raise _unavailable(exc) from exc
        return sock

    @staticmethod
    def _upgrade_request(version: str, path: str, body: dict) -> bytes:
        payload = json.dumps(body).encode()
        return (f"POST /v{version}{path} HTTP/1.1\r\nHost: docker\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n").encode() + payload

    def _hijack_sync(self, exec_id: str, tty: bool, deadline: float) -> _Hijacked:
        sock = self._connect(max(0.1, deadline - time.monotonic()))
        try:
            sock.sendall(self._upgrade_request(self.client.api._version, f"/exec/{exec_id}/start",
                                               {"Detach": False, "Tty": tty}))
            head = b""
            while b"\r\n\r\n" not in head:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = sock.recv(4096)
                if not chunk or len(head) > 65536:
                    raise SandboxError("exec start: the engine closed the connection")
                head += chunk
        except TimeoutError as exc:
            sock.close()
            raise TimeoutError("exec start timed out") from exc
        except OSError as exc:
            sock.close()
            raise _unavailable(exc) from exc
        head, _, early = head.partition(b"\r\n\r\n")
        if head.split(b" ", 2)[1] not in (b"101", b"200"):
            sock.close()
            raise SandboxError(f"exec start failed: {head.decode(errors='replace').splitlines()[0]}")
        return _Hijacked(sock, early)

    def _exec_create(self, handle: str, argv: list[str], **kwargs) -> str:
        with _exec_errors(handle):
            return self.client.api.exec_create(handle, argv, **kwargs)["Id"]

    def exec(self, handle: str, argv: list[str], timeout: float = 30,
             limit: int = EXEC_OUTPUT_LIMIT) -> ExecResult:
        deadline = time.monotonic() + timeout
        exec_id = self._exec_create(handle, argv)
        try:
            hijacked = self._hijack_sync(exec_id, False, deadline)
        except TimeoutError:
            return ExecResult(-1, b"", timed_out=True)
        output, truncated, timed_out = bytearray(), False, False
        demux, sock = Demux(), hijacked.sock
        # Both streams count, in the order they came.
        data = hijacked.early
        try:
            while True:
                for _kind, payload in demux.feed(data):
                    output += payload
                if len(output) > limit:
                    truncated = True
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
                data = sock.recv(65536)
                if not data:
                    break
        except TimeoutError:
            timed_out = True
        except OSError:
            pass
        finally:
            # Closing the connection is the only thing this side can do to a
            # program that floods or hangs: a flood then gets EPIPE.
            with contextlib.suppress(OSError):
                sock.close()
        if truncated or timed_out:
            return ExecResult(-1, bytes(output[:limit]), truncated, timed_out)
        with _exec_errors(handle):
            code = self.client.api.exec_inspect(exec_id)["ExitCode"]
        return ExecResult(code if code is not None else -1, bytes(output))

    def open_relay(self, handle: str, argv: list[str], timeout: float) -> RelayStream:
        deadline = time.monotonic() + timeout
        exec_id = self._exec_create(handle, argv, stdin=True)
        return SyncRelay(self._hijack_sync(exec_id, False, deadline), deadline)

    async def _hijack(self, path: str, body: dict) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        url = urlparse(self.base_url)
        try:
            if url.scheme in ("unix", "http+unix"):
                reader, writer = await asyncio.open_unix_connection(url.path, limit=1 << 20)
            else:
                context = self._tls()
                reader, writer = await asyncio.open_connection(
                    url.hostname, url.port or 2375, limit=1 << 20, ssl=context,
                    server_hostname=url.hostname if context else None)
        except OSError as exc:
            raise _unavailable(exc) from exc
        writer.write(self._upgrade_request(self.client.api._version, path, body))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        if status not in (b"101", b"200"):
            writer.close()
            raise SandboxError(f"exec start failed: {head.decode(errors='replace').splitlines()[0]}")
        return reader, writer

    async def open_relay_async(self, handle: str, argv: list[str]) -> AsyncRelayStream:
        exec_id = await asyncio.to_thread(self._exec_create, handle, argv, stdin=True)
        reader, writer = await self._hijack(f"/exec/{exec_id}/start", {"Detach": False, "Tty": False})
        return AsyncRelay(reader, writer)

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

    def read_file(self, handle: str, path: str, limit: int) -> bytes | None:
        """Through the engine's archive API: dockerd reads the file from the
        sandbox's filesystem as stored, so a symlink stays a symlink (to
        /dev/zero, say) and is not followed, and nothing of the sandbox runs."""
        with _exec_errors(handle):
            try:
                stream, stat = self.client.api.get_archive(handle, path, chunk_size=65536)
            except docker.errors.NotFound:
                return None
        try:
            if not _regular(stat):
                return None
            wanted = min(int(stat.get("size", 0)), limit)
            buffer = bytearray()
            for chunk in stream:
                buffer += chunk
                if len(buffer) >= wanted + 8192:
                    break
        finally:
            with contextlib.suppress(Exception):
                stream.close()
        buffer += b"\0" * max(0, wanted + 8192 - len(buffer))
        with tarfile.open(fileobj=io.BytesIO(bytes(buffer)), mode="r:") as tar:
            member = tar.next()
            if member is None or not member.isfile():
                return None
            extracted = tar.extractfile(member)
            return extracted.read(wanted) if extracted else None

    def write_file(self, handle: str, path: str, data: bytes, mode: int | None = None) -> None:
        """Through the engine's archive API: a tar of one file, made here,
        extracted by dockerd at the sandbox's "/" (chrooted into its root, so
        symlinks resolve inside it; ids mapped by its user namespace, so uid
        0 here is the sandbox's root). noOverwriteDirNonDir keeps a directory
        from being replaced by the file; the engine makes missing parents."""
        member = archive_member(path)
        if mode is None:
            mode = self._file_mode(handle, path)
        if not 0 <= mode <= 0o7777:
            raise ValueError(f"not permission bits: {mode:o}")
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(member)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
        api = self.client.api
        with _exec_errors(handle):
            try:
                response = api._put(api._url("/containers/{0}/archive", handle),
                                    params={"path": "/", "noOverwriteDirNonDir": "true"}, data=archive.getvalue())
                api._raise_for_status(response)
            except docker.errors.NotFound:
                raise
            except docker.errors.APIError as exc:
                explanation = str(exc.explanation or exc)
                log.info("sandbox %s: writing %s refused: %s", handle, path, explanation)
                raise SandboxError(write_refusal(path, explanation)) from exc

    def _file_mode(self, handle: str, path: str) -> int:
        """The permission bits of the regular file at path (a HEAD of the
        archive API: its stat, no content), 0644 when there is none."""
        api = self.client.api
        with _exec_errors(handle):
            response = api.head(api._url("/containers/{0}/archive", handle), params={"path": path},
                                timeout=self.timeout)
        if response.status_code != 200:
            return 0o644
        stat = docker.utils.decode_json_header(response.headers.get("x-docker-container-path-stat", "e30="))
        if not _regular(stat):
            return 0o644  # a directory, device or link is replaced, not kept
        return stat.get("mode", 0o644) & 0o777

    # -- what runs ------------------------------------------------------------

    def list_managed(self, host: str | None = None) -> list[ManagedSandbox]:
        """Containers carrying this instance's labels, a node set as one
        sandbox (running while all of its nodes run)."""
        selector = {"label": [f"{LABEL_INSTANCE}={self.prefix}", LABEL_SANDBOX]}
        try:
            containers = self.client.containers.list(all=True, filters=selector)
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        found: dict[str, ManagedSandbox] = {}
        for c in containers:
            name = c.labels.get(LABEL_SANDBOX, c.name)
            sandbox = found.setdefault(name, ManagedSandbox(name, name, c.labels, True))
            sandbox.running = sandbox.running and c.status == "running"
        return list(found.values())

    def stats(self, handle: str) -> dict[str, int]:
        """Memory of all of a node set's nodes together."""
        total = {"memory_bytes": 0, "memory_limit": 0}
        try:
            for machine in self._nodes(handle):
                raw = self.client.api.stats(machine, stream=False)
                memory = raw.get("memory_stats", {})
                cache = memory.get("stats", {}).get("cache", 0) or memory.get("stats", {}).get("inactive_file", 0)
                total["memory_bytes"] += memory.get("usage", 0) - cache
                total["memory_limit"] += memory.get("limit", 0)
        except _UNAVAILABLE as exc:
            raise _unavailable(exc) from exc
        return total
