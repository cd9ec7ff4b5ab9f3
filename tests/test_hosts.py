"""Several sandbox hosts: three sandbox engines on this machine, each in a
network namespace of its own (as on a host of its own), reached over mutual
TLS with certificates made by deploy/engine/certs.sh. Traffic goes only to
the addresses this test gives them (10.230.N.2)."""
from __future__ import annotations

import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.engines import Engine
from tests.support import ROOT, run_async

pytestmark = pytest.mark.django_db(transaction=True)

CERTS = ROOT / "deploy" / "engine" / "certs.sh"
COUNT = 3


class Engines:
    """The three engines: h1, h2, h3 at 10.230.N.2:2376."""

    def __init__(self):
        self.tag = secrets.token_hex(2)
        self.certs = Path(tempfile.mkdtemp(prefix="labdeck-certs-"))
        self.names = [f"h{n}" for n in range(1, COUNT + 1)]
        self.engines: list[Engine] = []
        subprocess.run([CERTS, str(self.certs), "client"], check=True)
        for n, name in enumerate(self.names, 1):
            self.engines.append(self.start(n, name))
            self.engines[-1].load_sandbox_image()

    def address(self, n: int) -> str:
        return f"10.230.{n}.2"

    def ns(self, n: int) -> str:
        return f"ldk-t{self.tag}-e{n}"

    def veth(self, n: int) -> str:
        return f"lde{self.tag}{n}"

    def start(self, n: int, name: str) -> Engine:
        ns, address = self.ns(n), self.address(n)
        subprocess.run([CERTS, str(self.certs), "server", name, address], check=True)
        for command in (["ip", "netns", "add", ns],
                        ["ip", "link", "add", self.veth(n), "type", "veth", "peer", "name", "eth0", "netns", ns],
                        ["ip", "addr", "add", f"10.230.{n}.1/24", "dev", self.veth(n)],
                        ["ip", "link", "set", self.veth(n), "up"],
                        ["ip", "netns", "exec", ns, "ip", "addr", "add", f"{address}/24", "dev", "eth0"],
                        ["ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up"],
                        ["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"]):
            subprocess.run(command, check=True)
        return Engine(f"{self.tag}-e{n}", netns=ns, tls_listen=f"{address}:2376",
                      tls_dir=str(self.certs / name), bridge_ip="10.212.0.1/24")

    def setting(self, capacity: int = 2) -> str:
        return ";".join(f"{name}=tcp://{self.address(n)}:2376,capacity={capacity}"
                        for n, name in enumerate(self.names, 1))

    def cut(self, n: int, up: bool = False) -> None:
        """The host disappears from the network (or comes back)."""
        subprocess.run(["ip", "link", "set", self.veth(n), "up" if up else "down"], check=True)

    def close(self) -> None:
        for n, engine in enumerate(self.engines, 1):
            self.cut(n, up=True)
            engine.close()
            subprocess.run(["ip", "netns", "del", self.ns(n)], check=False)
            subprocess.run(["ip", "link", "del", self.veth(n)], check=False, capture_output=True)
        shutil.rmtree(self.certs, ignore_errors=True)


@pytest.fixture(scope="module")
def engines():
    engines = Engines()
    try:
        yield engines
    finally:
        engines.close()


@pytest.fixture
def hosts(engines, settings):
    """The backend of the three hosts, as LABDECK_SANDBOX_HOSTS makes it."""
    from sandboxes.backends import get_backend

    settings.LABDECK_SANDBOX_HOSTS = engines.setting()
    settings.LABDECK_TLS_DIR = str(engines.certs / "client")
    settings.LABDECK_HOST_LOST_AFTER = 1
    settings.LABDECK_MAX_SANDBOXES = 20
    get_backend.cache_clear()
    backend = get_backend()
    yield backend
    for host in backend.hosts():
        try:
            for managed in backend.list_managed(host.name):
                backend.destroy(managed.handle)
        except Exception:  # a host the test stopped
            pass
    get_backend.cache_clear()


def test_the_engines_answer_only_to_the_client_certificate(engines, hosts):
    assert [h.name for h in hosts.hosts()] == engines.names
    for line in hosts.prepare().splitlines():
        assert "Docker 20.10" in line, line
    context = ssl.create_default_context(cafile=str(engines.certs / "client" / "ca.pem"))
    with socket.create_connection((engines.address(1), 2376), 5) as raw, \
            context.wrap_socket(raw, server_hostname=engines.address(1)) as tls:
        tls.sendall(b"GET /version HTTP/1.1\r\nHost: docker\r\n\r\n")
        with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
            assert not tls.recv(100), "no answer without a client certificate"
    with socket.create_connection((engines.address(1), 2376), 5) as plain:
        plain.sendall(b"GET /version HTTP/1.1\r\nHost: docker\r\n\r\n")
        assert b"ApiVersion" not in plain.recv(1000)


def test_sandboxes_go_where_there_is_most_room_and_work_over_tls(hosts):
    from lessons.checker import evaluate_in
    from lessons.checks import parse
    from lessons.scripts import type_script
    from sandboxes import lifecycle, pool

    placed = []
    for owner in ("ann", "bob", "cid", "dee"):
        sandbox = pool.reserve(owner)
        placed.append(sandbox.host)
        lifecycle.start(sandbox)
    assert placed[:3] == ["h1", "h2", "h3"] and placed[3] == "h1", placed
    handle = pool.current("bob").handle
    assert handle.startswith("h2/")
    transcript, status = run_async(type_script(handle, "docker run busybox echo over-tls-$((40+2))"))
    assert status == 0 and "over-tls-42" in transcript
    check = parse({"container": {"image": "busybox", "command": "echo over-tls"}})
    assert evaluate_in(check, handle).passed, "the checker reads the inner engine through the TLS engine"


def test_the_warm_pool_is_kept_per_host(hosts, settings):
    from sandboxes import pool
    from sandboxes.models import Sandbox

    settings.LABDECK_POOL_SIZE = 1
    assert pool.fill() == 3
    ready = Sandbox.objects.filter(state=Sandbox.READY, owner="")
    assert sorted(ready.values_list("host", flat=True)) == ["h1", "h2", "h3"]
    assert pool.fill() == 0


def test_a_host_that_disappears_gives_its_sandboxes_up_and_its_learners_start_elsewhere(engines, hosts):
    from channels.layers import get_channel_layer

    from sandboxes import lifecycle, pool, tell
    from sandboxes.models import Sandbox, SandboxHost
    from sandboxes.owners import owner_group

    sandbox = pool.reserve("eve", host="h3")
    lifecycle.start(sandbox)
    assert lifecycle.check_hosts() == []
    engines.cut(3)
    assert lifecycle.check_hosts() == [], "not lost at the first failed ping"
    assert SandboxHost.objects.get(name="h3").down_since is not None
    time.sleep(1.2)
    lost = lifecycle.check_hosts()
    assert [s.name for s in lost] == [sandbox.name]
    sandbox.refresh_from_db()
    assert (sandbox.state, sandbox.reason) == (Sandbox.GONE, "its sandbox host stopped answering")

    tell.note(sandbox, tell.LOST)  # what the keeper does with the lost ones
    (waiting,) = tell.waiting()

    async def told() -> dict:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(owner_group("eve"), channel)
        await tell.deliver(waiting)  # what the checker worker does with the notice
        return await layer.receive(channel)

    message = run_async(told())
    assert message["kind"] == "lost"
    assert message["message"] == ("Your sandbox stopped because its sandbox host stopped answering. "
                                  "Your progress is kept.")
    again = pool.reserve("eve")
    assert again is not None and again.host in ("h1", "h2"), "a new sandbox, elsewhere"
