"""A learner who turns their sandbox against the platform: every exec and
every look into the sandbox is bounded from the platform's side, and no
program of the sandbox is trusted to stop (or to tell the truth)."""
import base64
import secrets
import threading
import time

import psutil
import pytest

from lessons.probe import Probe, ProbeError


@pytest.fixture
def sandbox():
    from sandboxes.backends import get_backend

    backend = get_backend()
    name = f"labdeck-test-hostile-{secrets.token_hex(3)}"
    backend.create(name, {})
    try:
        backend.wait_ready(name, 60)
        yield backend, name
    finally:
        backend.destroy(name)


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def rss_growth_during(call) -> tuple[object, int]:
    """What call returned (or raised), and how far this process's memory grew meanwhile."""
    process, peak, done = psutil.Process(), [0], threading.Event()
    base = process.memory_info().rss

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss - base)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        try:
            result = call()
        except Exception as exc:  # the caller looks at what was raised
            result = exc
    finally:
        done.set()
        watcher.join()
    return result, peak[0]


def test_an_exec_that_floods_is_cut_at_its_limit(sandbox):
    backend, name = sandbox
    result, seconds = timed(lambda: backend.exec(name, ["sh", "-c", "cat /dev/zero"], 20, 1 << 20))
    assert result.truncated and len(result.output) == 1 << 20 and result.exit_code == -1
    assert seconds < 10


def test_an_exec_that_hangs_ends_at_its_deadline_without_the_sandboxs_timeout(sandbox):
    """The learner replaced `timeout` with a program that never ends: the
    deadline is kept on the platform's side all the same."""
    backend, name = sandbox
    backend.exec(name, ["sh", "-c", "printf '#!/bin/sh\\nexec sleep 1000\\n' > /usr/bin/timeout"])
    result, seconds = timed(lambda: backend.exec(name, ["sleep", "1000"], 2))
    assert result.timed_out and result.exit_code == -1
    assert 1.5 < seconds < 5


def test_a_history_that_points_at_dev_zero_reads_as_empty(sandbox):
    backend, name = sandbox
    backend.exec(name, ["sh", "-c", "rm -f /root/.bash_history; ln -s /dev/zero /root/.bash_history"])
    with Probe(name) as probe:
        history, seconds = timed(lambda: probe.history)
    assert history == [] and seconds < 5


def test_a_huge_history_is_read_only_up_to_its_limit(sandbox):
    from lessons.probe import HISTORY_LIMIT

    backend, name = sandbox
    backend.exec(name, ["sh", "-c", "yes 'docker ps' | head -c 40000000 > /root/.bash_history"], 60)
    with Probe(name) as probe:
        history, grown = rss_growth_during(lambda: probe.history)
    assert 0 < len(history) <= HISTORY_LIMIT // len("docker ps\n") + 1
    assert grown < 64 << 20


def test_a_relay_replaced_by_a_flood_fails_the_round_not_the_platform(sandbox):
    backend, name = sandbox
    backend.exec(name, ["sh", "-c", "printf '#!/bin/sh\\nexec cat /dev/zero\\n' > /usr/bin/socat"])
    with Probe(name) as probe:
        (raised, grown), seconds = timed(lambda: rss_growth_during(lambda: probe.containers))
    assert isinstance(raised, ProbeError), raised
    assert seconds < 15 and grown < 64 << 20


def test_a_relay_that_never_answers_fails_the_round_in_time(sandbox):
    backend, name = sandbox
    backend.exec(name, ["sh", "-c", "printf '#!/bin/sh\\nexec sleep 1000\\n' > /usr/bin/socat"])
    with Probe(name) as probe:
        raised, seconds = timed(lambda: rss_growth_during(lambda: probe.images)[0])
    assert isinstance(raised, ProbeError), raised
    assert seconds < 15


def test_a_fake_engine_that_answers_without_end_is_cut_off(sandbox):
    """The learner puts a server of their own on their engine's socket, one
    that answers without end."""
    backend, name = sandbox
    server = base64.b64encode(b"#!/bin/sh\nprintf 'HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\n"
                              b"Content-Length: 999999999999\\r\\n\\r\\n'\nexec cat /dev/zero\n").decode()
    backend.exec(name, ["sh", "-c", f"echo {server} | base64 -d > /root/fake-engine && chmod +x /root/fake-engine && "
                        "rm -f /var/run/docker.sock && { nohup socat UNIX-LISTEN:/var/run/docker.sock,fork "
                        "EXEC:/root/fake-engine >/dev/null 2>&1 & }"], 20)
    time.sleep(0.5)
    with Probe(name) as probe:
        (raised, grown), seconds = timed(lambda: rss_growth_during(lambda: probe.volumes))
    assert isinstance(raised, ProbeError) and "bytes" in str(raised), raised
    assert seconds < 15 and grown < 96 << 20


def test_a_paused_container_inside_does_not_keep_the_sandbox_from_going(sandbox):
    """Paused processes stay frozen, and a frozen process cannot be killed:
    the runtime thaws the sandbox's cgroups before it kills it."""
    from tests.support import engine

    backend, name = sandbox
    result = backend.exec(name, ["sh", "-c", "docker run -d --name frozen busybox sleep 1000 && docker pause frozen"],
                          60)
    assert result.exit_code == 0, result.output
    _, seconds = timed(lambda: backend.destroy(name))
    assert seconds < 15
    assert not engine().containers.list(all=True, filters={"name": name})
