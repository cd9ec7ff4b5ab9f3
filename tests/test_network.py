"""The sandboxes' network exists once, however many processes start at once.

Docker lets two networks share a name; on a fresh machine the web process and
the pool keeper used to create two, and every sandbox create then failed
("network ... is ambiguous").
"""
import os
import subprocess
import sys
import time

import pytest

from tests.support import ROOT, engine

pytestmark = pytest.mark.django_db(transaction=True)

# A network of this test's own, so that the other tests' sandboxes are never
# in the way of removing it.
NETWORK, SUBNET = "labdeck-test-race", "10.216.0.0/16"
CREATORS = 6
# One process of a fresh machine: find or make the network, then a sandbox on it.
CREATOR = """
import sys, time, django
django.setup()
from sandboxes.backends import get_backend
start, name = float(sys.argv[1]), sys.argv[2]
backend = get_backend()
while time.time() < start:
    pass
network = backend.ensure_network()
if name:
    backend.create(name, {})
    backend.wait_ready(name, 90)
print(network)
"""


def networks_named(name: str) -> list[dict]:
    return [n for n in engine().api.networks(names=[name]) if n["Name"] == name]


def remove_network() -> None:
    client = engine()
    for container in client.containers.list(all=True, filters={"name": "labdeck-test-net-"}):
        container.remove(force=True)
    for network in networks_named(NETWORK):
        client.api.remove_network(network["Id"])


def run_creators(names: list[str]) -> list[str]:
    """Start one process per name at the same instant; the network id each saw."""
    start = time.time() + 3  # every process is up and waiting by then
    env = {**os.environ, "LABDECK_SANDBOX_NETWORK": NETWORK, "LABDECK_SANDBOX_SUBNET": SUBNET}
    procs = [subprocess.Popen([sys.executable, "-c", CREATOR, str(start), name], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in names]
    seen = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-2000:]
        seen.append(out.strip().splitlines()[-1])
    return seen


def test_processes_that_start_together_make_one_network_and_their_sandboxes_start():
    remove_network()
    try:
        for _ in range(3):  # the race is cheap without sandboxes: run it a few times
            remove_network()
            seen = run_creators([""] * CREATORS)
            networks = networks_named(NETWORK)
            assert len(networks) == 1, networks
            assert set(seen) == {networks[0]["Id"]}

        remove_network()
        names = [f"labdeck-test-net-{i}" for i in range(CREATORS)]
        seen = run_creators(names)
        networks = networks_named(NETWORK)
        assert len(networks) == 1 and set(seen) == {networks[0]["Id"]}
        for name in names:
            attached = engine().containers.get(name).attrs["NetworkSettings"]["Networks"]
            assert [n["NetworkID"] for n in attached.values()] == [networks[0]["Id"]]
    finally:
        remove_network()


def test_a_network_made_twice_all_the_same_is_reduced_to_the_oldest(settings):
    """Should a duplicate exist (made by hand, or by an older Labdeck), every
    process settles on the oldest network and removes the other."""
    from sandboxes.backends.docker import DockerBackend

    settings.LABDECK_SANDBOX_NETWORK, settings.LABDECK_SANDBOX_SUBNET = NETWORK, SUBNET
    backend = DockerBackend.from_settings()
    remove_network()
    name = NETWORK
    first = engine().api.create_network(name, driver="bridge", labels={"org.labdeck.instance": "labdeck-test"})
    time.sleep(0.1)
    second = engine().api.create_network(name, driver="bridge", labels={"org.labdeck.instance": "labdeck-test"})
    assert len(networks_named(name)) == 2
    assert backend.ensure_network() == first["Id"]
    assert [n["Id"] for n in networks_named(name)] == [first["Id"]]
    assert second["Id"] not in {n["Id"] for n in engine().api.networks()}
    remove_network()
