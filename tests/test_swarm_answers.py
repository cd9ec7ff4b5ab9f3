"""The swarm course's exercises against the answers learners give, on one
real node set of three: other reasonable ways must turn the exercise green,
near misses must not. As tests/test_answers.py does for the first course:
the exercise's setup, then the answer typed into the shell of the machine a
learner would type it on, then the course's own check."""
from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from lessons import catalog
from lessons.checker import evaluate_in
from lessons.scripts import run_setup, type_script
from sandboxes.backends import get_backend
from tests.support import run_async

# A swarm converges across machines: tasks start, and updates roll, in turn.
PASS_WAIT = 90.0
# A near miss is looked at again after this, when the swarm has settled.
SETTLE = 12.0
NODE1_ADDRESS = "$(getent hosts node1 | cut -d' ' -f1)"


@dataclass(frozen=True)
class Case:
    exercise: str
    name: str
    typed: tuple[tuple[int, str], ...]  # (node, what is typed there), in order
    passes: bool
    after: str = ""  # run on node1 once judged: what the exercise's setups would not undo

    @property
    def id(self) -> str:
        return f"{self.exercise}-{'pass' if self.passes else 'miss'}-{self.name}"


JOIN = f"docker swarm join --token $(docker -H node1 swarm join-token -q worker) {NODE1_ADDRESS}:2377"
CASES = [
    Case("swarm-init", "address", ((1, f"docker swarm init --advertise-addr {NODE1_ADDRESS}"),), True),
    Case("swarm-init", "on-node2", ((2, "docker swarm init --advertise-addr eth0"),), False),
    Case("swarm-join", "typed-on-each-node", ((2, JOIN), (3, JOIN)), True),
    Case("swarm-join", "only-node2", ((2, JOIN),), False),
    Case("swarm-join", "node2-own-swarm", ((2, "docker swarm init --advertise-addr eth0"), (3, JOIN)), False),
    Case("service-create", "tag-and-long-publish", (
        (1, "docker service create --name web --no-resolve-image "
            "--publish published=8080,target=80,mode=host nginx:1.22"),), True),
    Case("service-create", "no-publish", ((1, "docker service create --name web --no-resolve-image nginx"),), False),
    Case("service-create", "other-name", (
        (1, "docker service create --name www --no-resolve-image --publish mode=host,target=80,published=8081 "
            "nginx"),), False, after="docker service rm www"),
    Case("service-scale", "update-replicas", ((1, "docker service update --replicas 3 web"),), True),
    Case("service-scale", "two", ((1, "docker service scale web=2"),), False),
    Case("service-rolling-update", "all-at-once", (
        (1, "docker service update --image redis:7 --update-parallelism 3 --no-resolve-image cache"),), True),
    Case("service-rolling-update", "made-again", (
        (1, "docker service rm cache && docker service create --name cache --replicas 3 --no-resolve-image "
            "redis:7"),), False),
    Case("node-drain", "equals-sign", ((1, "docker node update --availability=drain node3"),), True),
    Case("node-drain", "pause", ((1, "docker node update --availability pause node3"),), False),
]


@pytest.fixture(scope="module")
def nodes():
    """One node set of three for every case, in course order (each case's
    exercise setup brings the swarm to where that exercise starts)."""
    backend = get_backend()
    name = f"labdeck-test-swarm-{int(time.time())}"
    backend.create(name, {}, nodes=3)
    try:
        backend.wait_ready(name, 120)
        yield name
    finally:
        backend.destroy(name)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_answer(case: Case, nodes: str):
    exercise = catalog.get("swarm").exercises()[case.exercise]
    status, output = run_setup(nodes, exercise)
    assert status == 0, output
    if case.passes:
        assert not evaluate_in(exercise.check, nodes).passed, "green before the answer"
    for node, text in case.typed:
        _, code = run_async(type_script(get_backend().node_handle(nodes, node), text, 120))
        assert code == 0 or not case.passes, f"node{node}: {text} exited {code}"
    # A passing answer may take a while to converge; a near miss must stay
    # red while the swarm settles.
    deadline = time.monotonic() + (PASS_WAIT if case.passes else SETTLE)
    while True:
        outcome = evaluate_in(exercise.check, nodes)
        if outcome.passed or time.monotonic() > deadline:
            break
        time.sleep(1)
    if case.after:
        get_backend().exec(nodes, ["sh", "-c", case.after], 60)
    assert outcome.passed == case.passes, outcome.missing
