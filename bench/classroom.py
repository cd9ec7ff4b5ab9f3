"""The classroom at 200 learners: how soon the dashboard shows a pass, and
what the room costs the web process.

A simulated room (tests/roomsim.py) of 200 learners, each with the player's
progress websocket open and turning a slide every ~30 s; a separate process
records passes (every learner passes three exercises, at 20 passes a second)
and reports them and 20 shell commands a second over Redis, as check rounds
and terminals do; the instructor's dashboard is open in headless Chromium.
Latency is from a pass being recorded to its cell changing on the page.
CPU is the web process's (labdeck.serve) over the drive, in % of one core: sandboxes,
terminals and the checker's probes are not part of it.
"""
from __future__ import annotations

import time

import psutil
from playwright.sync_api import sync_playwright

from bench.common import Options, Result, Row, percentile, server
from tests.browser import launch
from tests.classroom import Instructor
from tests.roomsim import SimulatedRoom, drive

TARGET_P95_MS = 1000
TARGET_CPU = 50.0
LEARNERS = 200
EXERCISES = ["docker-version", "hello-world", "figlet-inside"]
RATE = 20.0
COMMANDS = 20.0


def run(opts: Options) -> Result:
    exercises = opts.pick(EXERCISES, EXERCISES[:1])
    with server(REDIS_URL="redis://127.0.0.1:6379/4") as srv, sync_playwright() as p:
        instructor = Instructor(srv, "bench")
        code = instructor.create_workshop(title="Bench room", expected_attendees=LEARNERS, capacity=LEARNERS,
                                          initial=0, reserved=0)
        room = SimulatedRoom(srv, code, LEARNERS, slide_every=30)
        browser = launch(p)
        context = browser.new_context(viewport={"width": 1600, "height": 900})
        context.add_cookies([{"name": k, "value": v, "url": srv.url}
                             for k, v in instructor.http.cookies.get_dict().items()])
        page = context.new_page()
        page.goto(srv.url + f"/workshops/{code}/")
        page.wait_for_selector("[data-dashboard][data-live=true]", timeout=30_000)
        web = psutil.Process(srv.pid)
        cpu0, wall0 = web.cpu_times(), time.monotonic()
        sent = drive(srv, code, exercises, rate=RATE, commands=COMMANDS)
        cpu1, wall1 = web.cpu_times(), time.monotonic()
        page.wait_for_function(
            f"document.querySelectorAll('td[data-exercise][data-status=passed]').length >= {len(sent)}",
            timeout=30_000)
        shown = page.evaluate("""() => Object.fromEntries(
            Array.from(document.querySelectorAll('td[data-exercise][data-status=passed]'))
                 .map(td => [td.dataset.learner + ':' + td.dataset.exercise, Number(td.dataset.updatedAt)]))""")
        room.close()
        browser.close()
    latencies = [shown[f"{s['learner']}:{s['exercise']}"] - s["sent"] for s in sent]
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    cpu = 100 * ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / (wall1 - wall0)
    return Result(
        rows=[
            Row(f"Dashboard shows a pass, {LEARNERS} learners (p50 / p95, N={len(sent)})",
                f"{p50:.0f} ms / {p95:.0f} ms",
                f"p95 ≤ {TARGET_P95_MS} ms", p95 <= TARGET_P95_MS),
            Row(f"Web process CPU while {LEARNERS} learners work (terminals and checker excluded)",
                f"{cpu:.0f}% of one core", f"≤ {TARGET_CPU:.0f}%",
                cpu <= TARGET_CPU),
        ],
        raw={"latencies_ms": latencies, "cpu_percent": cpu, "passes": len(sent), "seconds": wall1 - wall0},
        notes=[f"Classroom: {len(sent)} passes at {RATE:.0f}/s and {COMMANDS:.0f} commands/s over "
               f"{wall1 - wall0:.0f} s, {LEARNERS} progress sockets turning slides, Redis channel layer."],
    )
