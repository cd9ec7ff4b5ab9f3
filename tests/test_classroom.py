"""Workshops end to end, over HTTP and websockets against a live Labdeck with
its pool keeper: who may see what, warm-up, the line, the live dashboard,
watching a terminal, reset, extend, remove, and the end of a workshop."""
from __future__ import annotations

import asyncio
import csv
import io
import time

import pytest
from websockets.exceptions import ConnectionClosed

from tests.classroom import Attendee, Dashboard, Instructor, learner_id, wait_json
from tests.support import LiveServer, TerminalClient, engine, run_async


@pytest.fixture(scope="module")
def room():
    live = LiveServer(keeper=True)
    yield live
    live.stop()


def wait_status(client: TerminalClient, predicate, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for status in client.statuses:
            if predicate(status):
                return status
        client.recv(0.5)
    raise AssertionError(f"status not seen; got {client.statuses}")


def test_it_shows_a_workshop_only_to_its_instructor(room):
    """Instructor B gets 403 on A's pages and 4403 on its sockets; staff-wide
    instructors see every workshop; learners see none of it."""
    ana, bo = Instructor(room, "ana"), Instructor(room, "bo")
    lead = Instructor(room, "lead", see_all=True)
    code = ana.create_workshop(title="Room of Ana", initial=0, reserved=0)
    bo.create_workshop(title="Room of Bo", initial=0, reserved=0)
    for path in (f"/workshops/{code}/", f"/workshops/{code}/export.csv", f"/workshops/{code}/cards/"):
        assert ana.http.get(room.url + path).status_code == 200, path
        assert bo.http.get(room.url + path).status_code == 403, path
        assert lead.http.get(room.url + path).status_code == 200, path
    listing = bo.http.get(room.url + "/workshops/").text
    assert "Room of Bo" in listing and "Room of Ana" not in listing
    assert "Room of Ana" in lead.http.get(room.url + "/workshops/").text

    assert Dashboard(room, code, ana.http).snapshot["workshop"]["title"] == "Room of Ana"
    assert Dashboard(room, code, lead.http).snapshot["workshop"]["code"] == code
    refused = Dashboard(room, code, bo.http)
    assert not refused.snapshot and refused.closed_code == 4403

    cy = Attendee(room, code, "Cy")
    page = cy.http.get(room.url + f"/workshops/{code}/")
    assert "/admin/login/" in page.url  # not staff: asked to log in
    assert Dashboard(room, code, cy.http).closed_code == 4403
    assert Dashboard(room, "NOSUCH", ana.http).closed_code == 4404


def test_a_workshop_teaches_the_sections_it_chose(room):
    """Its learners' player holds those sections' slides, and its dashboard
    and export those sections' exercises, in course order."""
    ana = Instructor(room, "gil")
    code = ana.create_workshop(title="Short one", initial=0, reserved=0,
                               sections=["first-containers", "background-containers"])
    page = Attendee(room, code, "Mo").http.get(room.url + "/courses/intro/").text
    assert 'data-exercise="hello-world"' in page and 'data-exercise="clock-detached"' in page
    assert 'data-exercise="docker-version"' not in page and 'data-exercise="build-figlet"' not in page
    exercises = [e["id"] for e in ana.dashboard(code).snapshot["exercises"]]
    assert exercises == ["hello-world", "figlet-inside", "fresh-container",
                         "clock-detached", "three-clocks", "logs-tail", "stop-and-kill"]
    header = ana.http.get(room.url + f"/workshops/{code}/export.csv").text.splitlines()[0]
    assert header.startswith("learner,joined_at,removed,passed,hello-world,figlet-inside,")
    other = ana.http.post(room.url + "/workshops/new/", data={
        "title": "Wrong", "course": "intro", "sections": ["no-such-section"], "expected_attendees": "1",
        "reserved": "0", "capacity": "5", "starts_at": "2026-12-01T10:00",
        "csrfmiddlewaretoken": ana.http.cookies["csrftoken"]})
    assert other.status_code == 400 and "no-such-section" in other.text


def test_a_workshop_past_its_end_time_is_over(room):
    """No one joins it, and its dashboard says it has ended."""
    ana = Instructor(room, "hugo")
    start, end = (time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() - ago)) for ago in (7200, 120))
    code = ana.create_workshop(title="Yesterday", initial=0, reserved=0, starts_at=start, ends_at=end)
    assert ana.dashboard(code).snapshot["workshop"]["ended"] is True
    assert Attendee(room, code, "Late").join_response.status_code == 404


def test_it_refuses_a_workshop_that_ends_before_it_starts(room):
    ana = Instructor(room, "dee")
    response = ana.http.post(room.url + "/workshops/new/", data={
        "title": "Backwards", "course": "intro", "expected_attendees": "3", "reserved": "0", "capacity": "5",
        "starts_at": "2026-12-01T10:00", "ends_at": "2026-12-01T09:00",
        "csrfmiddlewaretoken": ana.http.cookies["csrftoken"]})
    assert response.status_code == 400
    assert "The workshop must end after it starts." in response.text


def test_it_warms_up_fills_queues_and_ends_a_workshop(room):
    """Two sandboxes prepared on request; two learners get them at once, the
    third waits in line; a pass shows on the dashboard; the end reaps every
    sandbox of the workshop and keeps the progress."""
    ana = Instructor(room, "eve")
    later = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() + 2 * 3600))
    code = ana.create_workshop(title="Warm room", initial=2, reserved=1, capacity=2, starts_at=later)
    board = ana.dashboard(code)
    time.sleep(2)
    assert board.snapshot["warmup"]["ready"] == 0  # two hours ahead: not yet
    board.send(type="warmup")
    board.wait_for(lambda i: i.get("kind") == "warmup" and i["warmup"]["ready"] == 2, timeout=120,
                   what="two warm sandboxes")

    first, second, third = (Attendee(room, code, name) for name in ("Fay", "Gus", "Hal"))
    began = time.monotonic()
    info = first.start(timeout=1)
    assert info["state"] == "ready" and time.monotonic() - began < 1.5, info  # from the warm pool
    assert second.start(timeout=1)["state"] == "ready"
    queued = third.start(timeout=1)
    assert queued["state"] == "queued" and queued["position"] == 1, queued
    for name in ("Fay", "Gus", "Hal"):
        learner_id(board, name)
    fay = learner_id(board, "Fay")

    progress = first.progress_socket()
    wait_json(progress, lambda m: m["type"] == "progress")
    terminal = first.terminal(info)
    terminal.read_until("# ")
    terminal.send("docker version --format '{{.Server.Version}}'\r")
    board.wait_for(lambda i: i.get("kind") == "progress" and i["learner"] == fay
                   and i["exercise"] == "docker-version" and i["status"] == "passed", what="Fay's pass")
    command = board.wait_for(lambda i: i.get("kind") == "command" and i["learner"] == fay, what="Fay's command")
    assert command["command"] == "docker version --format '{{.Server.Version}}'"
    board.wait_for(lambda i: i.get("kind") == "presence" and i["learner"] == fay and i["connected"],
                   what="Fay connected")

    board.send(type="end")
    board.wait_for(lambda m: m.get("type") == "notice" and "ended" in m["message"], what="end notice")
    wait_json(progress, lambda m: m["type"] == "ended")
    client, deadline = engine(), time.monotonic() + 30
    group = {"label": [f"org.labdeck.instance={room.prefix}", f"org.labdeck.group=ws-{code}"]}
    while (left := client.containers.list(all=True, filters=group)) and time.monotonic() < deadline:
        time.sleep(0.2)  # the keeper removes them
    assert left == []
    assert first.http.get(room.url + "/sandbox/status").json()["state"] == "none"
    rows = list(csv.DictReader(io.StringIO(ana.http.get(room.url + f"/workshops/{code}/export.csv").text)))
    assert {r["learner"]: r["docker-version"] for r in rows} == {"Fay": "passed", "Gus": "pending", "Hal": "pending"}
    late = Attendee(room, code, "Ivy")
    assert late.join_response.status_code == 404
    progress.close()


def test_the_instructor_watches_resets_extends_and_removes(room):
    """Watching is read-only and the learner is told; reset gives a fresh
    sandbox; extend moves the expiry; remove ends the learner's place."""
    ana = Instructor(room, "flo")
    code = ana.create_workshop(title="Help room", initial=1, reserved=0, capacity=3)
    board = ana.dashboard(code)
    jo = Attendee(room, code, "Jo")
    info = jo.start()
    assert info["state"] == "ready", info
    jo_id = learner_id(board, "Jo")
    progress = jo.progress_socket()
    wait_json(progress, lambda m: m["type"] == "progress")
    terminal = jo.terminal(info)
    terminal.read_until("# ")

    kim = Attendee(room, code, "Kim")
    refused = kim.terminal({"terminal_url": f"/ws/workshops/{code}/watch/{jo_id}/"})
    refused.recv(5)
    assert refused.statuses[-1]["state"] == "closed"
    with pytest.raises(ConnectionClosed):
        refused.ws.recv(timeout=5)
    assert refused.ws.close_code == 4403  # a learner cannot watch another

    ana_watch = TerminalClient(room, f"/ws/workshops/{code}/watch/{jo_id}/", ana.http.cookies.get_dict())
    ana_watch.read_until("# ")  # the learner's screen, replayed
    assert ana_watch.statuses[0]["message"] == "Watching (read-only)."
    wait_status(terminal, lambda s: s.get("state") == "watched")
    terminal.send("echo seen-$((6*7))\r")
    ana_watch.read_until("seen-42")
    ana_watch.send("touch /tmp/intruder\r")
    wait_status(ana_watch, lambda s: "read-only" in s.get("message", ""))
    terminal.send("ls /tmp/intruder || echo absent-$((6*7))\r")
    terminal.read_until("absent-42")
    ana_watch.close()
    wait_status(terminal, lambda s: s.get("state") == "unwatched")

    before = jo.http.get(room.url + "/sandbox/status").json()
    board.send(type="extend", learner=jo_id)
    board.wait_for(lambda m: m.get("type") == "notice" and "lasts until" in m["message"], what="extended")
    after = jo.http.get(room.url + "/sandbox/status").json()
    assert after["expires_at"] and (before["expires_at"] is None or after["expires_at"] > before["expires_at"])

    board.send(type="reset", learner=jo_id)
    wait_json(progress, lambda m: m["type"] == "reset")
    fresh = jo.start()
    assert fresh["state"] == "ready" and fresh["sandbox"] != info["sandbox"], fresh

    board.send(type="remove", learner=jo_id)
    wait_json(progress, lambda m: m["type"] == "removed")
    board.wait_for(lambda i: i.get("kind") == "removed" and i["learner"] == jo_id, what="Jo removed")
    assert jo.http.get(room.url + "/sandbox/status").json()["state"] == "none"
    assert all(learner["name"] != "Jo" for learner in ana.dashboard(code).snapshot["learners"])
    progress.close()



def test_a_client_that_closes_mid_write_only_detaches(settings):
    """A connection that closes while output flows drops its holder client,
    and is not told anything more: the shell goes on in the sandbox."""
    from sandboxes import terminal

    class Stream:
        def __init__(self):
            self.parts = [terminal.frame(b"O", part) for part in (b"one\r\n", b"two\r\n", b"three\r\n")]
            self.closed = False

        async def recv(self, limit):
            await asyncio.sleep(0.01)
            return self.parts.pop(0) if self.parts else b""

        async def send(self, data): ...

        async def close(self):
            self.closed = True

    class Client:
        def __init__(self):
            self.output, self.told = b"", []

        async def send_output(self, data):
            if self.output:
                raise ConnectionError("Attempt to send on a closed protocol")
            self.output += data

        async def send_status(self, state, message, **extra):
            self.told.append(state)

        async def send_exit(self, code):
            self.told.append("exit")

        async def send_ended(self, how):
            self.told.append(how)

    async def run() -> tuple[Client, terminal.TerminalSession]:
        client = Client()
        session = terminal.TerminalSession("h", Stream(), client, terminal.LEARNER, 80, 24, watcher=False)
        session.start()
        await asyncio.gather(session.pump_task, return_exceptions=True)
        return client, session

    client, session = run_async(run())
    assert client.output == b"one\r\n" and client.told == []
    assert session.closed and session.closing
