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


def test_an_exercise_turns_passed_within_a_second_of_being_done(server):
    learner = Learner(server)
    assert learner.start()["state"] == "ready"
    info = learner.start()
    with progress_socket(learner) as ws:
        initial = next_progress(ws, 10)
        assert initial["hello-world"]["status"] == "pending" and len(initial) >= 18
        term = learner.terminal(info)
        term.read_until("# ")
        term.send("docker run busybox echo goodbye world\r")
        term.read_until("\rgoodbye world\r\n")
        ws.send(json.dumps({"type": "check", "exercise": "hello-world"}))
        failed = wait_for_status(ws, "hello-world", "failed", 10)
        assert failed["missing"] == ["No busybox container has printed `hello world` and exited cleanly yet."]

        term.send("docker run busybox echo hello world\r")
        term.read_until("\rhello world\r\n")
        term.read_until("# ")
        done_at = time.monotonic()
        wait_for_status(ws, "hello-world", "passed", 5)
        assert time.monotonic() - done_at < 1.0
        term.close()

    with progress_socket(learner) as ws:
        assert next_progress(ws, 10)["hello-world"]["status"] == "passed", "progress is kept"


def test_another_learner_sees_only_their_own_progress(server):
    learner = Learner(server)
    learner.http.get(server.url + "/courses/intro/")
    with progress_socket(learner) as ws:
        assert all(e["status"] == "pending" for e in next_progress(ws, 10).values())
