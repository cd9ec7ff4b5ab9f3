"""Exercises turn passed live, and only when done: the progress websocket."""
import json
import time

from websockets.sync.client import connect

from tests.support import Learner


def progress_socket(learner: Learner, slug: str = "intro"):
    cookie = "; ".join(f"{k}={v}" for k, v in learner.http.cookies.get_dict().items())
    return connect(learner.server.url.replace("http", "ws") + f"/ws/progress/{slug}/",
                   additional_headers={"Cookie": cookie}, origin=learner.server.url)


def next_progress(ws, timeout: float) -> dict:
    message = json.loads(ws.recv(timeout=timeout))
    assert message["type"] == "progress", message
    return message["exercises"]


def wait_for_status(ws, exercise: str, status: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"{exercise} never became {status}"
        exercises = next_progress(ws, left)
        if exercises.get(exercise, {}).get("status") == status:
            return exercises[exercise]


def test_an_exercise_turns_passed_once_done_and_only_then(server):
    learner = Learner(server)
    assert learner.start()["state"] == "ready"
    info = learner.start()
    with progress_socket(learner) as ws:
        initial = next_progress(ws, 10)
        assert initial["hello-world"]["status"] == "pending" and len(initial) >= 18
        term = learner.terminal(info)
        term.read_until("# ")
        term.send("docker run busybox echo goodbye world\r")
        term.read_line("goodbye world")
        ws.send(json.dumps({"type": "check", "exercise": "hello-world"}))
        failed = wait_for_status(ws, "hello-world", "failed", 10)
        assert failed["missing"] == ["No busybox container has printed `hello world` and exited cleanly yet."]

        term.send("docker run busybox echo hello world\r")
        term.read_line("hello world")
        # No Check pressed: the finished command starts the round. (How fast
        # is measured by `make bench`, not here.)
        wait_for_status(ws, "hello-world", "passed", 10)
        term.close()

    with progress_socket(learner) as ws:
        assert next_progress(ws, 10)["hello-world"]["status"] == "passed", "progress is kept"


def test_another_learner_sees_only_their_own_progress(server):
    learner = Learner(server)
    learner.http.get(server.url + "/courses/intro/")
    with progress_socket(learner) as ws:
        assert all(e["status"] == "pending" for e in next_progress(ws, 10).values())


def test_rounds_follow_the_section_the_learner_is_on(server):
    """Rounds check the learner's current section; work done for another
    section shows as soon as the learner opens it."""

    from lessons import catalog

    sections = {e: s for s in catalog.get("intro").sections() for e in s.exercise_ids()}
    learner = Learner(server)
    learner.http.get(server.url + "/courses/intro/")
    info = learner.start()
    with progress_socket(learner) as ws:
        next_progress(ws, 10)
        ws.send(json.dumps({"type": "slide", "number": sections["hello-world"].slides[0].number}))
        term = learner.terminal(info)
        term.read_until("# ")
        term.send("docker run -d --name ticktock jpetazzo/clock\r")
        term.read_until("# ", timeout=30)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                seen = next_progress(ws, deadline - time.monotonic())
            except TimeoutError:
                break
            assert "name-container" not in seen, "checked while the learner was elsewhere"
        ws.send(json.dumps({"type": "slide", "number": sections["name-container"].slides[0].number}))
        wait_for_status(ws, "name-container", "passed", 10)
        term.close()
