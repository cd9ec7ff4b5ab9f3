"""Several web processes, one checker worker: on the production layout (two
web processes behind nginx, PostgreSQL, Redis, the keeper and the checker).

A learner's shell belongs to no web process, an instructor watches from any
of them, checks run in the worker whether or not a page is open (and once,
however many are), and slow work for some learners never delays the others.
"""
from __future__ import annotations

import json
import re
import statistics
import threading
import time

import pytest

from tests.classroom import Attendee, Instructor
from tests.support import Learner, TerminalClient, engine

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def production():
    """The production layout, with room for this module's dozen sandboxes."""
    from tests.production import ProductionLayout

    layout = ProductionLayout(LABDECK_MAX_SANDBOXES="12")
    yield layout
    layout.stop()


class Direct:
    """One web process of the layout, past nginx, for TerminalClient."""

    def __init__(self, layout, i: int):
        self.url = layout.web_url(i)


def ready(layout) -> tuple[Learner, dict]:
    learner = Learner(layout)
    info = learner.start()
    assert info["state"] == "ready", info
    return learner, info


def terminal_on(layout, i: int, learner: Learner, info: dict) -> TerminalClient:
    return TerminalClient(Direct(layout, i), info["terminal_url"], learner.http.cookies.get_dict(), layout.url)


def handle_of(layout, info: dict) -> str:
    return layout.psql(f"SELECT handle FROM sandboxes_sandbox WHERE public_id = '{info['sandbox']}'")


def test_a_shell_outlives_the_web_process_that_served_it(production):
    learner, info = ready(production)
    term = terminal_on(production, 0, learner, info)
    term.read_until("# ")
    ticker = "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.2; done"
    term.send(f"export MARKER=kept-$((40+2)); docker run -d --name ticker busybox sh -c '{ticker}'\r")
    term.read_until("# ", timeout=30)
    term.send("docker logs -f ticker\r")
    term.read_line("tick-3")
    production.kill_web(0)  # a crash: nothing of web-0 gets to say goodbye

    again = terminal_on(production, 1, learner, info)  # the page reconnects through nginx: the other process
    assert again.recv(10) == b"" and again.statuses[-1].get("reset") is True
    shown = again.read_until("tick-")
    assert b"docker logs -f ticker" in shown, "the screen came back"
    seen = max(int(n) for n in re.findall(rb"tick-(\d+)", again.screen))
    again.read_line(f"tick-{seen + 5}", timeout=10)  # `docker logs -f` kept running
    again.send("\x03")
    again.read_until("# ")
    again.send("echo $MARKER\r")
    again.read_line("kept-42")
    again.send("docker rm -f ticker\r")
    again.close()
    production.wait_web(0)


def test_an_instructor_watches_a_learner_from_another_process(production):
    teacher = Instructor(production, "watcher")
    code = teacher.create_workshop(capacity="3")
    ana = Attendee(production, code, "Ana")
    info = ana.start()
    assert info["state"] == "ready", info
    learner_id = int(production.psql("SELECT id FROM labdeck_learner WHERE display_name = 'Ana'"))
    term = terminal_on(production, 0, ana, info)
    term.read_until("# ")
    watch = TerminalClient(Direct(production, 1), f"/ws/workshops/{code}/watch/{learner_id}/",
                           teacher.http.cookies.get_dict(), production.url)
    watch.recv(10)
    assert watch.statuses[-1]["state"] == "ready"
    deadline = time.monotonic() + 10
    while not any(s["state"] == "watched" for s in term.statuses) and time.monotonic() < deadline:
        term.recv(0.5)
    assert any(s["state"] == "watched" for s in term.statuses), "the learner is told, across processes"
    term.send("echo visible-$((6*7))\r")
    watch.read_line("visible-42")
    watch.send("touch /tmp/intruder\r")
    deadline = time.monotonic() + 5  # the warning may follow the rest of the learner's output
    while not any(s["state"] == "warning" for s in watch.statuses) and time.monotonic() < deadline:
        watch.recv(0.5)
    assert any(s["state"] == "warning" for s in watch.statuses)
    term.send("ls /tmp/intruder || echo nobody-typed-here\r")
    term.read_line("nobody-typed-here")
    watch.close()
    term.close()


def relays(handle: str, since: float) -> int:
    """How many connections to its own engine a sandbox had opened (one per
    check round, beside the watch's few long ones) since `since`."""
    events = engine().events(since=int(since), until=int(time.time()) + 1, decode=True,
                             filters={"container": handle, "event": "exec_start"})
    return sum(1 for e in events if "socat" in e.get("Action", "") and "UNIX-CONNECT" in e.get("Action", ""))


def test_checks_run_in_the_worker_with_no_page_open_and_once_for_three(production):
    learner, info = ready(production)
    handle = handle_of(production, info)
    page = learner.progress_socket()  # a page says which course: the worker follows it from then on
    page.recv(timeout=10)
    page.close()
    term = terminal_on(production, 0, learner, info)
    term.read_until("# ")
    term.send("docker run busybox echo hello world\r")
    deadline = time.monotonic() + 15
    status = ""
    while status != "passed" and time.monotonic() < deadline:
        status = production.psql("SELECT status FROM lessons_progress WHERE exercise = 'hello-world' AND owner = "
                                 f"(SELECT owner FROM sandboxes_sandbox WHERE handle = '{handle}')")
        time.sleep(0.3)
    assert status == "passed", "checked with no page open"

    def rounds_for(command: str) -> int:
        time.sleep(2)
        since = time.time()
        term.send(f"{command}\r")
        term.read_until("# ")
        time.sleep(3)
        return relays(handle, since)

    alone = rounds_for("docker run busybox echo one")
    tabs = [learner.progress_socket() for _ in range(3)]
    for tab in tabs:
        tab.recv(timeout=10)
    three = rounds_for("docker run busybox echo two")
    for tab in tabs:
        tab.close()
    assert 1 <= three <= alone + 1, f"{alone} round(s) with no page open, {three} with three"
    term.close()


def test_slow_work_for_some_learners_delays_no_one_else(production):
    """While a workshop's learners ask for slow checks and their dashboard is
    ended, another learner's keystrokes still echo at once and their exercise
    still turns green within seconds."""
    teacher = Instructor(production, "ender")
    code = teacher.create_workshop(capacity="4", reserved="0", expected_attendees="2")
    busy = []
    for name in ("Bo", "Cy"):
        attendee = Attendee(production, code, name)
        assert attendee.start()["state"] == "ready"
        busy.append(attendee)
    other, info = ready(production)
    page = other.progress_socket()
    page.recv(timeout=10)
    term = terminal_on(production, 0, other, info)
    term.read_until("# ")

    stop = threading.Event()
    burst_errors: list[Exception] = []

    def burst(attendee: Attendee) -> None:
        """Explicit checks of exercises whose checks run containers and read images."""
        try:
            socket = attendee.progress_socket()
            while not stop.is_set():
                for exercise in ("multistage-hello", "build-hello", "whiteout", "data-migration"):
                    socket.send(json.dumps({"type": "check", "exercise": exercise}))
                time.sleep(0.05)
            socket.close()
        except Exception as exc:  # reported below
            burst_errors.append(exc)

    threads = [threading.Thread(target=burst, args=(a,)) for a in busy]
    for thread in threads:
        thread.start()
    time.sleep(1)
    echoes = []
    board = teacher.dashboard(code)
    for i in range(40):
        if i == 10:
            board.send(type="end")  # removes the workshop's sandboxes, meanwhile
        key = "abcdefghij"[i % 10]
        sent = time.monotonic()
        term.send(key)
        term.read_until(key, timeout=10)
        echoes.append(time.monotonic() - sent)
        time.sleep(0.05)
    passed_at = time.monotonic()
    term.send("\x15docker run busybox echo hello world\r")
    while True:
        message = json.loads(page.recv(timeout=20))
        if message.get("type") == "progress" and message["exercises"].get("hello-world", {}).get("status") == "passed":
            break
    took = time.monotonic() - passed_at
    stop.set()
    for thread in threads:
        thread.join(10)
    board.close()
    page.close()
    term.close()
    assert not burst_errors, burst_errors
    assert max(echoes) < 0.5, f"echo median {statistics.median(echoes) * 1000:.0f} ms, max {max(echoes) * 1000:.0f} ms"
    assert took < 5, f"hello-world passed {took:.1f} s after the command"
