"""Faults: a part of Labdeck stops and starts again under learners who are
using it, and the test asserts what they see and that nothing is lost.

- the sandbox engine restarts (SIGTERM, 4 s, start): shells, containers and
  checks go on (live-restore, and every client of the engine reattaches);
- the host reboots (every process of the engine dies at once): an assigned
  sandbox is started again on its own disk, and the learner is told;
- a sandbox's own init runs out of memory: the page and the dashboard say
  so, and a new sandbox is one click away, caught up to the learner's section;
- Redis restarts (production layout): pages reconnect by themselves, and a
  pass made while it was down shows as soon as it is back;
- PostgreSQL restarts: requests meanwhile get "try again in a moment", and
  everything recovers without restarting Labdeck.

A web process that dies under a learner is tests/test_many_learners.py's.
The engine faults use an engine of their own (tests/engines.py): the test
session's shared engine never stops.
"""
from __future__ import annotations

import json
import re
import secrets
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.browser import wait_for_terminal_line
from tests.classroom import Instructor
from tests.engines import Engine
from tests.support import Learner, LiveServer, TerminalClient

PROMPT = r"learner@labdeck:~# $"
TARGET = "pull-tag"  # a section early in chapter 2: catching up runs chapter 1


@pytest.fixture(scope="module")
def spare():
    engine = Engine(f"f{secrets.token_hex(2)}")
    try:
        engine.load_sandbox_image()
        yield engine
    finally:
        engine.close()


@pytest.fixture(scope="module")
def site(spare):
    """A live Labdeck (embedded layout) whose sandboxes run on the spare engine."""
    live = LiveServer(LABDECK_DOCKER_HOST=spare.socket, DOCKER_HOST=spare.socket,
                      LABDECK_SANDBOX_NETWORK="labdeck-test-faults", LABDECK_SANDBOX_SUBNET="10.218.0.0/16")
    yield live
    live.stop()


def wait_status(term: TerminalClient, state: str, timeout: float = 30) -> dict:
    """The next STATUS frame of that state the terminal receives."""
    start = len(term.statuses)
    deadline = time.monotonic() + timeout
    while True:
        for status in term.statuses[start:]:
            if status.get("state") == state:
                return status
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {state!r} status; got {term.statuses[start:]}, "
                                 f"screen ends {term.screen[-300:]!r}")
        term.recv(min(left, 1))


def read_message(socket, matches, what: str, timeout: float = 60) -> dict:
    """The next JSON message on socket that matches; fails saying what was awaited."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no message: {what}")
        try:
            message = json.loads(socket.recv(timeout=left))
        except TimeoutError:
            continue
        if matches(message):
            return message


def wait_progress(socket, exercise: str, status: str, timeout: float = 30) -> dict:
    """Read the progress socket until it says exercise has that status."""
    return read_message(socket, lambda m: m.get("type") == "progress" and
                        (m["exercises"].get(exercise) or {}).get("status") == status,
                        f"{exercise} {status}", timeout)


def db(server: LiveServer, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(f"{server.dir}/db.sqlite3", timeout=20) as connection:
        return connection.execute(sql, args).fetchall()


def ready(server: LiveServer) -> tuple[Learner, dict, TerminalClient]:
    learner = Learner(server)
    info = learner.start(timeout=120)
    assert info["state"] == "ready", info
    term = learner.terminal(info)
    term.read_until("# ")
    return learner, info, term


# -- the sandbox engine -----------------------------------------------------------


def test_an_engine_restart_loses_no_shell_container_or_check(spare, site):
    learner, info, term = ready(site)
    page = learner.progress_socket()
    page.recv(timeout=10)  # the page's first state
    term.send("export MARK=kept-$((40+2)); docker run -d --name keeper busybox sleep 600\r")
    term.read_until("# ", timeout=60)

    spare.stop()
    told = wait_status(term, "reconnecting", timeout=20)
    assert "reconnecting" in told["message"].lower()
    time.sleep(4)
    spare.start()
    assert wait_status(term, "ready", timeout=60)["message"] == "Reconnected."
    assert term.exit_code is None, "the page was never told that the shell ended"

    term.send("echo $MARK; docker ps --format '{{.Names}} {{.Status}}'\r")
    term.read_line("kept-42")  # the same shell, with what it had set
    term.read_until("keeper Up", timeout=20, since=term.end)
    # The checker follows the engine again by itself.
    term.send("docker run busybox echo hello world\r")
    wait_progress(page, "hello-world", "passed", timeout=30)
    page.close()
    term.close()


def test_after_a_host_reboot_an_assigned_sandbox_comes_back_on_its_own_disk(spare, site):
    learner, info, term = ready(site)
    page = learner.progress_socket()
    page.recv(timeout=10)
    # The run first: a sandbox is ready before its busybox is loaded (a run
    # pulls it from the mirror meanwhile, a tag would find no image).
    term.send("echo kept-on-disk > /root/note; docker run -d --name survivor busybox sleep 600 "
              "&& docker tag busybox mine:kept && echo tagged-$((6*7))\r")
    term.read_line("tagged-42", timeout=60)
    term.read_until("# ", timeout=10, since=term.end)  # its prompt may come with the line
    # A stopped sandbox of the pool is not worth starting again: only the assigned ones are.
    spare.crash()
    time.sleep(1)
    spare.start()

    revived = read_message(page, lambda m: m.get("type") == "revived", "revived", timeout=120)
    assert "files, images, volumes and containers are kept" in revived["message"]
    assert wait_status(term, "ready", timeout=120)["message"] == "Reconnected."
    term.read_until("# ", timeout=30)  # a new shell: the old one died with the host
    term.send("cat /root/note; docker images --format 'image {{.Repository}}:{{.Tag}}'; "
              "docker ps -a --format 'container {{.Names}} {{.Status}}'\r")
    term.read_line("kept-on-disk")
    term.read_until("image mine:kept", timeout=30, since=term.end)
    term.read_until("container survivor Exited", timeout=30, since=term.end)
    state, reason = db(site, "SELECT state, reason FROM sandboxes_sandbox WHERE public_id = ?",
                       info["sandbox"].replace("-", ""))[0]
    assert state == "assigned", reason
    page.close()
    term.close()


@pytest.mark.browser
def test_a_sandbox_that_runs_out_of_memory_is_explained_and_replaced_in_one_click(spare, site, page):
    instructor = Instructor(site, f"oom{secrets.token_hex(2)}")
    code = instructor.create_workshop(reserved="0", expected_attendees="1", initial="0")
    dashboard = instructor.dashboard(code)
    page.goto(site.url + "/join/")
    page.fill("[name=code]", code.lower())
    page.fill("[name=name]", "Mo")
    page.locator("form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/courses/intro/.*"))
    page.wait_for_selector('[data-slide="1"]', state="visible")
    number = page.evaluate(
        f"""document.querySelector('[data-exercise="{TARGET}"]').closest('[data-slide]').dataset.slide""")
    page.evaluate("n => { location.hash = '#' + n; }", number)
    page.wait_for_selector("#status[data-state=ready]", timeout=90_000)
    wait_for_terminal_line(page, PROMPT)

    (handle,) = db(site, "SELECT handle FROM sandboxes_sandbox WHERE state = 'assigned' AND \"group\" = ?",
                   f"ws-{code}")[0]
    pid = spare.docker("inspect", "-f", "{{.State.Pid}}", handle).stdout.strip()
    Path(f"/proc/{pid}/oom_score_adj").write_text("1000")  # the sandbox's init goes first
    spare.docker("exec", "-d", handle, "sh", "-c", "exec tail /dev/zero")

    banner = page.wait_for_selector("[data-room=lost]", timeout=30_000)
    assert "Your sandbox stopped because it ran out of memory (a sandbox may use 512 MiB)" in banner.inner_text()
    assert "Your progress is kept" in banner.inner_text()
    item = dashboard.wait_for(lambda i: i.get("kind") == "learner" and i["learner"]["sandbox"]["state"] == "stopped",
                              timeout=20, what="the learner's sandbox shown stopped")
    assert "ran out of memory" in item["learner"]["sandbox"]["reason"]
    dashboard.close()

    page.click("[data-new-sandbox]")
    page.wait_for_selector("#status[data-state=ready]", timeout=90_000)
    page.wait_for_selector("[data-catchup-status][data-state=done]", timeout=240_000)
    assert page.locator("[data-catchup-text]").inner_text().startswith("Caught up: 10 exercises")
    (count,) = db(site, "SELECT count(*) FROM sandboxes_sandbox WHERE state = 'assigned' AND \"group\" = ?",
                  f"ws-{code}")[0]
    assert count == 1


# -- Redis and PostgreSQL (the production layout) ----------------------------------


@pytest.fixture(scope="module")
def production():
    from tests.production import ProductionLayout

    layout = ProductionLayout()
    yield layout
    layout.stop()


def passed(layout, owner_of_handle: str, exercise: str) -> bool:
    return layout.psql(f"SELECT status FROM lessons_progress WHERE exercise = '{exercise}' AND owner = "
                       f"(SELECT owner FROM sandboxes_sandbox WHERE handle = '{owner_of_handle}')") == "passed"


def progress_rows(layout) -> int:
    return int(layout.psql("SELECT count(*) FROM lessons_progress"))


@pytest.mark.browser
def test_a_redis_restart_loses_nothing_and_the_page_catches_up_by_itself(production, page):
    page.goto(production.url + "/courses/intro/")
    page.wait_for_selector("#status[data-state=ready]", timeout=90_000)
    wait_for_terminal_line(page, PROMPT)
    number = page.evaluate(
        """document.querySelector('[data-exercise="hello-world"]').closest('[data-slide]').dataset.slide""")
    page.evaluate("n => { location.hash = '#' + n; }", number)
    slide = page.locator(f'[data-slide="{number}"]')
    slide.wait_for(state="visible")
    page.wait_for_selector('[data-exercise="hello-world"][data-status="pending"]')
    handle = production.psql("SELECT handle FROM sandboxes_sandbox WHERE state = 'assigned' "
                             "ORDER BY assigned_at DESC LIMIT 1")
    rows = progress_rows(production)

    production.ctl("stop", "redis")
    try:
        run = slide.locator(".code-block", has_text="docker run busybox echo hello world").locator(
            'button[data-action="run"]')
        run.click()
        wait_for_terminal_line(page, r"^hello world\s*$")  # the shell needs no Redis
        deadline = time.monotonic() + 30
        while not passed(production, handle, "hello-world") and time.monotonic() < deadline:
            time.sleep(0.3)
        assert passed(production, handle, "hello-world"), "the checker kept checking, and wrote the pass"
        assert page.get_attribute('[data-exercise="hello-world"]', "data-status") != "passed"
        time.sleep(2)
    finally:
        production.ctl("start", "redis")
    # No reload: the page's sockets come back and it shows the pass.
    page.wait_for_selector('[data-exercise="hello-world"][data-status="passed"]', timeout=20_000)
    # The checker's group is joined again: a Check gets its answer.
    figlet = page.locator('[data-exercise="figlet-inside"]')
    page.evaluate("""() => { const n = document.querySelector('[data-exercise="figlet-inside"]')
                     .closest('[data-slide]').dataset.slide; location.hash = '#' + n; }""")
    figlet.wait_for(state="visible")
    figlet.locator("[data-check]").click()
    page.wait_for_selector('[data-exercise="figlet-inside"][data-status="failed"]', timeout=20_000)
    # The terminal never left.
    page.locator("[data-terminal]").click()
    page.keyboard.type("echo after-$((40+2))")
    page.keyboard.press("Enter")
    wait_for_terminal_line(page, r"^after-42\s*$")
    assert progress_rows(production) >= rows + 1


def postgres(action: str) -> None:
    subprocess.run(["pg_ctlcluster", "15", "main", action, *(["-m", "fast"] if action == "stop" else [])],
                   check=True, capture_output=True)


def test_a_postgres_restart_says_try_again_and_recovers_without_a_restart(production):
    learner = Learner(production)
    info = learner.start(timeout=120)
    assert info["state"] == "ready", info
    term = learner.terminal(info)
    term.read_until("# ")
    page = learner.progress_socket()  # the page says which course the checker follows
    page.recv(timeout=10)
    page.close()
    pids = {name: pid for name, (state, pid) in production.status().items()}
    rows = progress_rows(production)

    postgres("stop")
    try:
        page = requests.get(production.url + "/courses/intro/", cookies=learner.http.cookies, timeout=30)
        assert page.status_code == 503 and "Try again in a moment" in page.text, page.text[:500]
        assert "Traceback" not in page.text
        started = learner.http.post(production.url + "/sandbox/start",
                                    headers={"X-CSRFToken": learner.http.cookies.get("csrftoken", "")}, timeout=30)
        assert started.status_code == 503
        assert started.json() == {"state": "retrying", "retrying": True,
                                  "message": started.json()["message"]} and "moment" in started.json()["message"]
        term.send("echo during-$((40+2))\r")
        term.read_line("during-42")  # the shell never needed the database
    finally:
        postgres("start")

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if requests.get(production.url + "/courses/intro/", cookies=learner.http.cookies, timeout=30).ok:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the site did not recover")
    assert learner.start()["state"] == "ready", "the same sandbox, found again"
    assert {name: pid for name, (state, pid) in production.status().items()} == pids, "nothing was restarted"
    term.send("docker run busybox echo hello world\r")
    term.read_line("hello world")
    handle = production.psql(f"SELECT handle FROM sandboxes_sandbox WHERE public_id = '{info['sandbox']}'")
    deadline = time.monotonic() + 30
    while not passed(production, handle, "hello-world") and time.monotonic() < deadline:
        time.sleep(0.3)
    assert passed(production, handle, "hello-world"), "the checker works again"
    assert progress_rows(production) >= rows
    term.close()
