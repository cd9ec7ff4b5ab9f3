"""Several machines per learner: a node set on the real sandbox engine
(tests/test_backend_contract.py has the backend's side of it).

Each node is a sandbox of its own (its own engine, its own limits) on a
network that only the set shares; the pool counts each node against the
site's capacity, and a learner reaches each node's terminal and no other
learner's."""
import contextlib
import secrets

import pytest
from websockets.exceptions import ConnectionClosed

from tests.support import Learner

pytestmark = pytest.mark.django_db(transaction=True)


@contextlib.contextmanager
def node_set(nodes: int):
    """A node set made through the backend, ready; removed at the end."""
    from sandboxes.backends import get_backend

    backend = get_backend()
    name = f"labdeck-test-nodes-{secrets.token_hex(3)}"
    backend.create(name, {}, nodes=nodes)
    try:
        backend.wait_ready(name, 120)
        yield name
    finally:
        backend.destroy(name)


def run(handle: str, script: str, timeout: float = 30) -> tuple[int, str]:
    from sandboxes.backends import get_backend

    result = get_backend().exec(handle, ["sh", "-c", script], timeout)
    return result.exit_code, result.output.decode(errors="replace").strip()


@pytest.fixture(scope="module")
def three():
    with node_set(3) as name:
        yield name


def test_each_node_has_its_own_engine_and_reaches_the_others_by_name(backend, three):
    for node in (1, 2, 3):
        assert run(backend.node_handle(three, node), "hostname") == (0, f"node{node}")
    # From node1, the other nodes' engines answer by their names.
    for node in (2, 3):
        assert run(three, f"docker -H node{node} info --format '{{{{.Name}}}}'") == (0, f"node{node}")
    # Containers made on node2 are node2's, not node1's.
    code, _ = run(three, "docker -H node2 create --name only-on-node2 busybox true")
    assert code == 0
    assert run(three, "docker ps -aq --filter name=only-on-node2") == (0, "")
    assert run(backend.node_handle(three, 2), "docker ps -aq --filter name=only-on-node2")[1] != ""


def test_no_other_sandbox_reaches_a_node_set(backend, three):
    """A learner's single sandbox and another learner's node set are on
    other bridges: the firewall drops what they route to this set's nodes,
    while the other set's own nodes still reach each other."""
    code, address = run(three, "getent hosts node2 | cut -d' ' -f1")
    assert code == 0 and address.count(".") == 3, address
    probe = f"timeout 5 docker -H tcp://{address}:2375 info --format '{{{{.Name}}}}'"
    with node_set(2) as other:
        assert run(backend.node_handle(other, 2), "docker -H node1 info --format '{{.Name}}'") == (0, "node1")
        code, output = run(other, probe, 20)
        assert code != 0 and "node2" not in output, output
    from tests.support import own_sandbox

    with own_sandbox("single") as single:
        code, output = run(single, probe, 20)
        assert code != 0 and "node2" not in output, output


def test_the_pool_counts_every_machine_and_keeps_sets_apart(backend, settings):
    """Capacity counts machines, a ready set is only given to a learner of a
    course of that many nodes, and a learner whose sandbox has another size
    is asked before it is swapped."""
    from sandboxes import pool
    from sandboxes.models import Sandbox

    settings.LABDECK_MAX_SANDBOXES = 4
    first = pool.reserve("a", nodes=3)
    assert first is not None and first.nodes == 3
    assert pool.reserve("b", nodes=3) is None  # 3 + 3 machines > 4
    assert pool.reserve("b", nodes=2) is None  # 3 + 2 > 4
    assert pool.reserve("b") is not None  # 3 + 1
    Sandbox.objects.all().delete()
    Sandbox.objects.create(state=Sandbox.READY, nodes=3, handle="x")
    assert pool.claim("single-learner") is None
    assert pool.claim("swarm-learner", nodes=3).nodes == 3
    Sandbox.objects.all().delete()
    Sandbox.objects.create(state=Sandbox.ASSIGNED, owner="c", nodes=1, handle="y")
    asked = pool.place("c", nodes=3)
    assert asked.state == "other-nodes" and "3 machines; yours has one machine" in asked.message
    assert Sandbox.objects.get(handle="y").state == Sandbox.ASSIGNED  # nothing lost by asking
    swapped = pool.place("c", nodes=3, replace=True)
    assert swapped.state == "starting" and swapped.sandbox.nodes == 3
    assert Sandbox.objects.get(handle="y").state == Sandbox.STOPPING


def test_a_learner_has_a_terminal_on_each_node_and_nobody_else_does(server):
    alice, bob = Learner(server), Learner(server)
    info = alice.start(180, course="swarm")
    assert info["state"] == "ready", info
    assert [n["name"] for n in info["nodes"]] == ["node1", "node2", "node3"]
    for node in info["nodes"]:
        term = alice.terminal(node)
        try:
            term.send("hostname\r")
            term.read_line(node["name"], timeout=30)
        finally:
            term.close()
    for client, url, code, words in [
        (bob, info["nodes"][1]["terminal_url"], 4403, "someone else"),
        (alice, info["nodes"][0]["terminal_url"] + "node4/", 4404, "no node4"),
    ]:
        refused = client.terminal({"terminal_url": url})
        refused.recv(10)
        assert refused.statuses[-1]["state"] == "closed" and words in refused.statuses[-1]["message"]
        with pytest.raises(ConnectionClosed):
            refused.ws.recv(timeout=5)
        assert refused.ws.close_code == code
    # Asked for the one-machine course's sandbox, she is asked first.
    assert alice.start()["state"] == "other-nodes"


def test_the_warm_pools_keep_whole_node_sets(backend, settings):
    """The site keeps LABDECK_POOL_NODE_SETS sets warm, and a workshop of a
    three-node course keeps sets of three: each set one row, started whole."""
    from sandboxes import pool
    from sandboxes.models import PoolTarget, Sandbox

    settings.LABDECK_POOL_SIZE, settings.LABDECK_POOL_NODE_SETS = 1, {3: 1}
    settings.LABDECK_MAX_SANDBOXES = 20
    PoolTarget.objects.create(group="swarm-workshop", nodes=3, initial=2)
    started: list[Sandbox] = []
    pool.fill(start=started.append)
    pool.fill(start=started.append)  # what is there already is not started again
    made = sorted((s.group, s.nodes) for s in started)
    assert made == [("", 1), ("", 3), ("swarm-workshop", 3), ("swarm-workshop", 3)], made
    assert pool.machines(Sandbox.objects.all()) == 10


def test_a_workshop_of_the_swarm_course_hands_out_node_sets_and_its_instructor_watches_each_node(server):
    from tests.classroom import Attendee, Instructor, learner_id
    from tests.support import TerminalClient

    ana = Instructor(server, "nodes-ana")
    code = ana.create_workshop(title="Swarm room", course="swarm", initial=1, reserved=0, capacity=2)
    board = ana.dashboard(code)
    jo = Attendee(server, code, "Jo")
    info = jo.start(180, course="swarm")
    assert info["state"] == "ready" and len(info["nodes"]) == 3, info
    jo_id = learner_id(board, "Jo")
    node2 = jo.terminal(info["nodes"][1])
    node2.read_until("# ", timeout=30)
    watch = TerminalClient(server, f"/ws/workshops/{code}/watch/{jo_id}/node2/", ana.http.cookies.get_dict())
    watch.read_until("# ", timeout=30)
    node2.send("echo on-$(hostname)-$((6*7))\r")
    watch.read_until("on-node2-42", timeout=20)
    beyond = TerminalClient(server, f"/ws/workshops/{code}/watch/{jo_id}/node4/", ana.http.cookies.get_dict())
    beyond.recv(10)
    assert "no node4" in beyond.statuses[-1]["message"]
    for client in (watch, beyond, node2):
        client.close()
    board.close()
