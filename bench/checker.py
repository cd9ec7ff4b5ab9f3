"""The exercise checker: how soon a done exercise shows as passed, and what
watching learners costs.

Latency: in one sandbox, with the progress websocket open on the hello-world
slide (as the player page says where the learner is), repeatedly remove
the busybox containers and the learner's hello-world progress, then run
`docker run busybox echo hello world` in the terminal; time from the output
reaching the terminal client to the progress frame saying passed.

Cost: several learners each finish a shell command every second (each
command starts a check round over the whole course); the web process's CPU
time per round gives the cost of 100 learners at a realistic pace (one
finished command every 10 s each), in % of one core. dockerd's CPU for the
probes is reported beside it.
"""
from __future__ import annotations

import json
import time

import psutil
from websockets.sync.client import connect

from bench.common import Options, Result, Row, engine_process, first_slide_of, fmt_s, median, percentile, server
from tests.support import Learner

TARGET_P95 = 1.0
TARGET_CPU = 50.0
PACE = 10.0  # seconds between two finished commands of an active learner


def progress_socket(learner: Learner):
    cookie = "; ".join(f"{k}={v}" for k, v in learner.http.cookies.get_dict().items())
    return connect(learner.server.url.replace("http", "ws") + "/ws/progress/intro/",
                   additional_headers={"Cookie": cookie}, origin=learner.server.url)


def wait_passed(ws, exercise: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if message.get("exercises", {}).get(exercise, {}).get("status") == "passed":
            return time.monotonic()
    raise TimeoutError(f"{exercise} not passed")


def latency(srv, n: int) -> list[float]:
    learner = Learner(srv)
    learner.http.get(srv.url + "/courses/intro/")
    info = learner.start()
    owner = srv.query("SELECT owner FROM sandboxes_sandbox WHERE handle = ?", srv.handle(info))[0][0]
    term = learner.terminal(info)
    term.read_until("# ")
    samples = []
    with progress_socket(learner) as ws:
        ws.recv(timeout=10)
        # Like the player page: say which slide the learner is on, so rounds
        # check that section's exercises.
        ws.send(json.dumps({"type": "slide", "number": first_slide_of("intro", "hello-world")}))
        for i in range(n):
            term.send("docker rm -f $(docker ps -aq) >/dev/null 2>&1; clear\r")
            term.read_until("# ")
            time.sleep(0.5)
            srv.query("DELETE FROM lessons_progress WHERE owner = ? AND exercise = 'hello-world'", owner)
            time.sleep(0.3)
            term.send(f"docker run busybox echo hello world; echo round-{i}\r")
            term.read_until(f"\nround-{i}\r\n", timeout=30)
            done = time.monotonic()
            samples.append(wait_passed(ws, "hello-world", 10) - done)
    term.close()
    return samples


def cost(srv, learners: int, seconds: float) -> dict:
    terms, sockets = [], []
    for _ in range(learners):
        learner = Learner(srv)
        learner.http.get(srv.url + "/courses/intro/")
        info = learner.start()
        term = learner.terminal(info)
        term.read_until("# ")
        ws = progress_socket(learner)
        ws.recv(timeout=10)
        terms.append(term)
        sockets.append(ws)
    time.sleep(2)
    web = psutil.Process(srv.pid)
    dockerd = engine_process()
    web0, dockerd0 = web.cpu_times(), dockerd.cpu_times()
    commands = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        tick = time.monotonic()
        for term in terms:
            term.send("true\r")
            commands += 1
        for term in terms:
            term.read_until("# ", timeout=10)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    time.sleep(2)
    web1, dockerd1 = web.cpu_times(), dockerd.cpu_times()
    for term, ws in zip(terms, sockets, strict=True):
        term.close()
        ws.close()
    return {
        "commands": commands,
        "web_cpu_s": (web1.user + web1.system) - (web0.user + web0.system),
        "dockerd_cpu_s": (dockerd1.user + dockerd1.system) - (dockerd0.user + dockerd0.system),
    }


def run(opts: Options) -> Result:
    n = opts.pick(20, 5)
    learners, seconds = opts.pick(6, 3), opts.pick(30.0, 10.0)
    with server(LABDECK_POOL_SIZE="0", LABDECK_MAX_SANDBOXES=str(learners + 3)) as srv:
        samples = latency(srv, n)
        spent = cost(srv, learners, seconds)
    per_round_web = spent["web_cpu_s"] / spent["commands"]
    per_round_dockerd = spent["dockerd_cpu_s"] / spent["commands"]
    web_pct = 100 * 100 * per_round_web / PACE
    dockerd_pct = 100 * 100 * per_round_dockerd / PACE
    p50, p95 = median(samples), percentile(samples, 95)
    res = Result(raw={"latency_s": samples, "cost": spent})
    res.rows.append(Row(f"Exercise shown as passed after the state change (p50 / p95, N={n})",
                        f"{fmt_s(p50)} / {fmt_s(p95)}", f"p95 ≤ {TARGET_P95:.0f} s", p95 <= TARGET_P95))
    res.rows.append(Row(f"Checker CPU for 100 active learners (web process; one command per {PACE:.0f} s each)",
                        f"{web_pct:.0f}% of one core", f"≤ {TARGET_CPU:.0f}%", web_pct <= TARGET_CPU))
    res.rows.append(Row("Probe CPU in dockerd for the same load", f"{dockerd_pct:.0f}% of one core"))
    res.notes.append(
        f"Checker cost measured with {learners} learners finishing a command every second for {seconds:.0f} s "
        f"({spent['commands']} check rounds over the whole course): {per_round_web * 1000:.1f} ms of web-process "
        f"CPU and {per_round_dockerd * 1000:.1f} ms of dockerd CPU per round.")
    return res
