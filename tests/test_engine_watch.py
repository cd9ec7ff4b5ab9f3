"""Containers that ran and were removed (`docker run --rm`) still prove an
exercise: the engine watch saw them run, exit and go."""
import secrets
import time

import pytest

from lessons import catalog
from lessons.checker import evaluate
from lessons.probe import Probe
from lessons.scripts import type_script
from tests.support import Watching, own_sandbox, run_async


@pytest.fixture(scope="module")
def handle():
    with own_sandbox("watch") as name:
        yield name


def output_lines(record: dict) -> set[str]:
    """The distinct lines a departed container printed. Docker's attach with
    logs and stream at once can send a line written while it attaches twice."""
    return set(record.get("LabdeckLogs", "<no output kept>").splitlines())


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
    assert output_lines(record) == {"hello world"}


def test_every_short_container_of_a_burst_is_seen_with_its_output(handle):
    script = "for i in 1 2 3 4 5 6 7 8; do docker run --rm busybox sh -c \"echo run-$i; exit $i\"; done"
    with Watching(handle) as watching:
        run_async(type_script(handle, script))
        departed = {c["State"]["ExitCode"]: output_lines(c) for c in watching.departed()}
    assert set(range(1, 9)) <= set(departed), f"not every run was seen: {departed}"
    wrong = {i: departed[i] for i in range(1, 9) if departed[i] != {f"run-{i}"}}
    # A container whose whole life is shorter than the watch's inspect and
    # attach can go before its output is read (README, "Checks"): on a loaded
    # host about one in a hundred of such a burst. Wrong output is never right.
    assert len(wrong) <= 1 and all(lines == {"<no output kept>"} for lines in wrong.values()), \
        f"runs seen without their output (exit code: lines): {wrong}; all: {departed}"


def test_containers_that_never_ran_and_the_probes_own_are_not_remembered(handle):
    with Watching(handle) as watching:
        run_async(type_script(handle, "docker rm $(docker create --name never-ran busybox true)"))
        with Probe(handle) as probe:
            assert probe.run_image("busybox", "echo scratch") == "scratch\n"
        departed = watching.departed()
    assert not [c for c in departed if c["Name"] == "/never-ran" or "scratch" in c.get("LabdeckLogs", "")]


@pytest.mark.parametrize("tty", ["", "-t"])
def test_a_container_that_prints_megabytes_leaves_its_last_lines(handle, tty):
    """`docker run --rm` of a program that floods: its end is what a learner
    looks for, and the watch keeps only a tail of it (not the 10 MB)."""
    script = f"docker run --rm {tty} busybox sh -c 'yes flood | head -c 10000000; echo; echo the-end' >/dev/null"
    with Watching(handle) as watching:
        _, status = run_async(type_script(handle, script, timeout=60))
        assert status == 0
        departed = watching.departed(settle=3.0)
    logs = departed[-1]["LabdeckLogs"]
    assert logs.replace("\r\n", "\n").endswith("\nflood\nfloo\nthe-end\n")  # head cut the last "flood"
    assert 60_000 < len(logs) <= 64 * 1024


def test_clocks_removed_before_the_watch_could_inspect_them_still_count(handle):
    """Containers started before the watch began are learned of when they are
    stopped; on a busy host a `--rm` one can be gone before the watch's
    inspect. Its kill, die and destroy events, replayed to a watch only once
    it is gone, are enough: stopping two clocks still passes."""
    import asyncio

    from lessons.engine_watch import EngineWatch
    from sandboxes.inner import AsyncInnerEngine

    check = catalog.get("intro").exercises()["stop-and-kill"].check
    tag = secrets.token_hex(3)
    run_async(type_script(handle, f"docker run -d --rm --name clock-a-{tag} --label lesson=stop jpetazzo/clock; "
                                  f"docker run -d --rm --name clock-b-{tag} jpetazzo/clock"))
    with Watching(handle) as seen:
        _, status = run_async(type_script(handle, f"docker kill clock-a-{tag} clock-b-{tag}"))
        assert status == 0
        time.sleep(1)
    names = {f"clock-a-{tag}", f"clock-b-{tag}"}
    replay = [e for e in seen.events if (e.get("Actor") or {}).get("Attributes", {}).get("name") in names]
    assert {e["Action"] for e in replay} >= {"kill", "die", "destroy"}, replay

    async def replayed() -> list[dict]:
        late = EngineWatch(handle, lambda event: None)
        api = AsyncInnerEngine(handle)
        await api.open()
        try:
            for event in replay:
                await late._note(api, event)
        finally:
            await api.close()
        await asyncio.sleep(0)
        return late.departed_list()

    departed = run_async(replayed())
    by_name = {c["Name"]: c for c in departed}
    assert set(by_name) == {"/" + name for name in names}, departed
    clock = by_name[f"/clock-a-{tag}"]
    assert clock["Config"]["Image"] == "jpetazzo/clock" and clock["Config"]["Labels"]["lesson"] == "stop"
    assert clock["State"]["Running"] is False and clock["State"]["ExitCode"] == 137
    with Probe(handle) as probe:
        assert not evaluate(check, probe).passed, "no clock is left to look at"
    with Probe(handle, departed) as probe:
        assert evaluate(check, probe).passed, evaluate(check, probe).missing
