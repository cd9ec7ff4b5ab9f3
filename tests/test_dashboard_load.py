"""The dashboard with 200 learners, in a real browser, over Redis: every pass
shows on it within a second. The room is simulated (tests/roomsim.py):
200 real progress websockets, passes driven from another process."""
from __future__ import annotations

import os

import pytest

from tests.classroom import Instructor
from tests.roomsim import SimulatedRoom, drive
from tests.support import LiveServer

pytestmark = pytest.mark.browser

LEARNERS = 200
EXERCISES = ["docker-version", "hello-world"]


@pytest.fixture(scope="module")
def redis_server():
    live = LiveServer(REDIS_URL=os.environ.get("LABDECK_TEST_REDIS_URL", "redis://127.0.0.1:6379/3"))
    yield live
    live.stop()


def test_every_change_of_a_room_of_200_shows_within_a_second(redis_server, browser):
    server = redis_server
    ana = Instructor(server, "room200")
    code = ana.create_workshop(title="Big room", expected_attendees=LEARNERS, capacity=LEARNERS,
                               initial=0, reserved=0)
    room = SimulatedRoom(server, code, LEARNERS, slide_every=5)
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    context.add_cookies([{"name": k, "value": v, "url": server.url} for k, v in ana.http.cookies.get_dict().items()])
    page = context.new_page()
    page.goto(server.url + f"/workshops/{code}/")
    page.wait_for_selector("[data-dashboard][data-live=true]", timeout=20_000)
    assert page.locator("[data-learner-row]").count() == LEARNERS
    page.wait_for_function(f"document.querySelectorAll('[data-learner-row][data-connected=true]').length"
                           f" === {LEARNERS}", timeout=20_000)

    sent = drive(server, code, EXERCISES, rate=40, commands=20)
    assert len(sent) == LEARNERS * len(EXERCISES)
    page.wait_for_function(
        f"document.querySelectorAll('td[data-exercise][data-status=passed]').length === {len(sent)}",
        timeout=10_000)
    shown = page.evaluate("""() => Object.fromEntries(
        Array.from(document.querySelectorAll('td[data-exercise][data-status=passed]'))
             .map(td => [td.dataset.learner + ':' + td.dataset.exercise, Number(td.dataset.updatedAt)]))""")
    latencies = sorted(shown[f"{s['learner']}:{s['exercise']}"] - s["sent"] for s in sent)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"dashboard latency over {len(latencies)} passes: p50 {latencies[len(latencies) // 2]:.0f} ms,"
          f" p95 {p95:.0f} ms, max {latencies[-1]:.0f} ms")
    assert latencies[-1] < 1000, f"slowest change took {latencies[-1]:.0f} ms"
    counts = {eid: page.inner_text(f'[data-pass-count="{eid}"]') for eid in EXERCISES}
    assert counts == {eid: str(LEARNERS) for eid in EXERCISES}
    room.close()
    context.close()
