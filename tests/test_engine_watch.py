"""Containers that ran and were removed (`docker run --rm`) still prove an
exercise: the engine watch saw them run, exit and go."""
import secrets

import pytest

from lessons import catalog
from lessons.checker import evaluate
from lessons.probe import Probe
from lessons.scripts import type_script
from tests.support import Watching, run_async


@pytest.fixture(scope="module")
def handle():
    from sandboxes.backends import get_backend

    backend = get_backend()
    name = f"labdeck-test-watch-{secrets.token_hex(3)}"
    backend.create(name, {})
    try:
        backend.wait_ready(name, 60)
        yield name
    finally:
        backend.destroy(name)


def test_hello_world_with_rm_passes_thanks_to_the_watch(handle):
    check = catalog.get("intro").exercises()["hello-world"].check
    with Watching(handle) as watching:
        _, status = run_async(type_script(handle, "docker run --rm busybox echo hello world"))
        assert status == 0
        departed = watching.departed()
    with Probe(handle) as probe:
        assert not evaluate(check, probe).passed, "nothing is left to look at"
    with Probe(handle, departed) as probe:
        assert evaluate(check, probe).passed
    record = departed[-1]
    assert record["Departed"] is True and record["State"]["ExitCode"] == 0
    assert record["LabdeckLogs"] == "hello world\n"


def test_every_short_container_of_a_burst_is_seen_with_its_output(handle):
    script = "for i in 1 2 3 4 5 6 7 8; do docker run --rm busybox sh -c \"echo run-$i; exit $i\"; done"
    with Watching(handle) as watching:
        run_async(type_script(handle, script))
        departed = {c["LabdeckLogs"].strip(): c["State"]["ExitCode"] for c in watching.departed()}
    assert {f"run-{i}": i for i in range(1, 9)}.items() <= departed.items()


def test_containers_that_never_ran_and_the_probes_own_are_not_remembered(handle):
    with Watching(handle) as watching:
        run_async(type_script(handle, "docker rm $(docker create --name never-ran busybox true)"))
        with Probe(handle) as probe:
            assert probe.run_image("busybox", "echo scratch") == "scratch\n"
        departed = watching.departed()
    assert not [c for c in departed if c["Name"] == "/never-ran" or "scratch" in c.get("LabdeckLogs", "")]
