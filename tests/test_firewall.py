"""What sandboxes may reach over the network.

The rules of deploy/engine/firewall.sh are checked twice: in network
namespaces this test builds (a sandbox host with a bridge, two sandboxes and
a stand-in for the internet, cloud metadata and private ranges), in both
egress modes; and on the real sandbox engine, between real sandboxes and a
service of this host. Traffic goes only to addresses the test made.
"""
import os
import secrets
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from tests.support import ROOT, engine

FIREWALL = ROOT / "deploy" / "engine" / "firewall.sh"
# Answers "open" if a TCP connection is accepted within a second.
CONNECT = ("import socket, sys\ntry:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), 1).close()\n"
           "    print('open')\nexcept OSError:\n    print('closed')\n")
SERVE = ("import socket, sys\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
         "s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16)\nwhile True:\n    s.accept()[0].close()\n")


def ip(*args: str, ns: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", ns] if ns else []
    subprocess.run([*prefix, *args], check=True, capture_output=True)


class Lab:
    """host: the sandbox host (bridge ldk-t0, 10.220.0.1); sb1 and sb2:
    sandboxes on it; net: the outside, with an internet address
    (198.51.100.10), cloud metadata (169.254.169.254) and private addresses."""

    OUTSIDE = {"internet": "198.51.100.10", "metadata": "169.254.169.254", "private": "10.99.0.10",
               "lan": "192.168.77.10", "cgnat": "100.64.5.10"}

    def __init__(self):
        tag = secrets.token_hex(2)
        self.ns = {n: f"ldk-t{tag}-{n}" for n in ("host", "sb1", "sb2", "net")}
        self.servers: list[subprocess.Popen] = []
        for name in self.ns.values():
            ip("ip", "netns", "add", name)
        host, net = self.ns["host"], self.ns["net"]
        for n in (host, *self.ns.values()):
            ip("ip", "link", "set", "lo", "up", ns=n)
        ip("ip", "link", "add", "ldk-t0", "type", "bridge", ns=host)
        ip("ip", "addr", "add", "10.220.0.1/24", "dev", "ldk-t0", ns=host)
        ip("ip", "link", "set", "ldk-t0", "up", ns=host)
        for i, sb in ((2, "sb1"), (3, "sb2")):
            ip("ip", "link", "add", f"v{sb}", "type", "veth", "peer", "name", "eth0", "netns", self.ns[sb], ns=host)
            ip("ip", "link", "set", f"v{sb}", "master", "ldk-t0", "up", ns=host)
            ip("ip", "addr", "add", f"10.220.0.{i}/24", "dev", "eth0", ns=self.ns[sb])
            ip("ip", "link", "set", "eth0", "up", ns=self.ns[sb])
            ip("ip", "route", "add", "default", "via", "10.220.0.1", ns=self.ns[sb])
        ip("ip", "link", "add", "uplink", "type", "veth", "peer", "name", "eth0", "netns", net, ns=host)
        ip("ip", "addr", "add", "198.51.100.1/24", "dev", "uplink", ns=host)
        ip("ip", "link", "set", "uplink", "up", ns=host)
        ip("ip", "link", "set", "eth0", "up", ns=net)
        ip("ip", "addr", "add", "198.51.100.10/24", "dev", "eth0", ns=net)
        for address in list(self.OUTSIDE.values())[1:]:
            ip("ip", "addr", "add", f"{address}/32", "dev", "eth0", ns=net)
            ip("ip", "route", "add", f"{address}/32", "via", "198.51.100.10", ns=host)
        ip("ip", "route", "add", "10.220.0.0/24", "via", "198.51.100.1", ns=net)
        ip("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=host)
        for address in self.OUTSIDE.values():
            self.serve(net, address, 80)
        self.serve(host, "10.220.0.1", 8080)  # a service of the sandbox host itself
        self.serve(self.ns["sb2"], "10.220.0.3", 8080)  # a service in another sandbox
        self.serve(self.ns["sb1"], "10.220.0.2", 2222)  # a service in this one

    def serve(self, ns: str, address: str, port: int) -> None:
        self.servers.append(subprocess.Popen(["ip", "netns", "exec", ns, "python3", "-c", SERVE, address, str(port)]))

    def no_firewall(self) -> None:
        for table, chain in (("filter", "INPUT"), ("filter", "FORWARD"), ("mangle", "PREROUTING"),
                             ("nat", "POSTROUTING")):
            subprocess.run(["ip", "netns", "exec", self.ns["host"], "iptables", "-t", table, "-D", chain, "-j",
                            f"LABDECK-{chain}"], capture_output=True, check=False)
        ip("sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0", ns=self.ns["host"])

    def firewall(self, egress: bool) -> None:
        env = {**os.environ, "LABDECK_SANDBOX_EGRESS": str(egress), "LABDECK_BRIDGE_PREFIX": "ldk"}
        subprocess.run(["ip", "netns", "exec", self.ns["host"], str(FIREWALL)], env=env, check=True)

    def reach(self, source: str, address: str, port: int = 80) -> bool:
        out = subprocess.run(["ip", "netns", "exec", self.ns[source], "python3", "-c", CONNECT, address, str(port)],
                             capture_output=True, text=True, check=True).stdout
        return out.strip() == "open"

    def close(self) -> None:
        for server in self.servers:
            server.kill()
            server.wait()
        for name in self.ns.values():
            subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture(scope="module")
def lab():
    lab = Lab()
    try:
        lab.reach("net", "198.51.100.10")  # warm up: the servers are listening
        yield lab
    finally:
        lab.close()


def test_without_the_firewall_the_lab_reaches_everything(lab):
    """The lab itself works: with no rules, every address answers."""
    lab.no_firewall()
    assert lab.reach("host", "198.51.100.10")
    assert all(lab.reach("sb1", address) for address in lab.OUTSIDE.values())
    assert lab.reach("sb1", "10.220.0.1", 8080) and lab.reach("sb1", "10.220.0.3", 8080)
    assert lab.reach("net", "10.220.0.2", 2222)


@pytest.mark.parametrize("egress", [False, True])
def test_a_sandbox_reaches_only_what_the_operator_allows(lab, egress):
    lab.firewall(egress)
    reached = {name: lab.reach("sb1", address) for name, address in lab.OUTSIDE.items()}
    assert reached == {"internet": egress, "metadata": False, "private": False, "lan": False, "cgnat": False}
    assert not lab.reach("sb1", "10.220.0.1", 8080), "a service of the sandbox host"
    assert not lab.reach("sb1", "10.220.0.3", 8080), "another sandbox on the same bridge"
    assert not lab.reach("net", "10.220.0.2", 2222), "nothing from outside reaches into a sandbox"
    assert lab.reach("host", "198.51.100.10"), "the host itself is not fenced in"


def test_the_rules_can_be_applied_again(lab):
    lab.firewall(False)
    lab.firewall(False)
    rules = subprocess.run(["ip", "netns", "exec", lab.ns["host"], "iptables", "-S", "FORWARD"],
                           capture_output=True, text=True, check=True).stdout
    assert rules.count("-j LABDECK-FORWARD") == 1


# -- on the real sandbox engine ---------------------------------------------------

@pytest.fixture(scope="module")
def two_sandboxes():
    from sandboxes.backends import get_backend

    backend = get_backend()
    names = [f"labdeck-test-fw-{secrets.token_hex(3)}" for _ in range(2)]
    try:
        for name in names:
            backend.create(name, {})
        for name in names:
            backend.wait_ready(name, 60)
        yield backend, names
    finally:
        for name in names:
            backend.destroy(name)


def connect(address: str, port: int) -> str:
    """A shell command in a sandbox that succeeds if the port accepts a connection."""
    return f"socat -T1 /dev/null TCP:{address}:{port},connect-timeout=1"


def sandbox_ip(name: str) -> tuple[str, str]:
    network = next(iter(engine().containers.get(name).attrs["NetworkSettings"]["Networks"].values()))
    return network["IPAddress"], network["Gateway"]


def test_real_sandboxes_reach_neither_each_other_nor_the_host(two_sandboxes):
    backend, (a, b) = two_sandboxes
    b_ip, gateway = sandbox_ip(b)
    backend.exec(b, ["sh", "-c", "socat TCP-LISTEN:7070,fork,reuseaddr EXEC:true >/dev/null 2>&1 &"])
    assert backend.exec(b, ["sh", "-c", "sleep 0.3; " + connect("127.0.0.1", 7070)]).exit_code == 0
    assert backend.exec(a, ["sh", "-c", connect(b_ip, 7070)]).exit_code != 0

    port = 40000 + secrets.randbelow(20000)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((gateway, port))
    listener.listen()
    threading.Thread(target=lambda: listener.accept(), daemon=True).start()
    try:
        with socket.create_connection((gateway, port), 1):
            pass  # the host reaches its own service
        assert backend.exec(a, ["sh", "-c", connect(gateway, port)]).exit_code != 0
    finally:
        listener.close()


def test_the_host_firewall_is_in_place():
    """Set up by deploy/engine/start.sh on this host: the same rules as above."""
    rules = subprocess.run(["iptables", "-S", "LABDECK-FORWARD"], capture_output=True, text=True).stdout
    assert "-A LABDECK-FORWARD -i ldk+ -o ldk+ -j DROP" in rules
    assert Path("/proc/sys/net/bridge/bridge-nf-call-iptables").read_text().strip() == "1"
