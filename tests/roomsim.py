"""A simulated room of learners, for the 200-learner dashboard test and
benchmark.

Each simulated learner joins the workshop with its code (HTTP) and keeps the
player's progress websocket open, turning slides now and then: presence and
slides reach the dashboard through the real ProgressConsumer. What cannot
run 200 times on one small machine is the sandbox and its checker, so their
outcome is driven from a separate process (`python -m tests.roomsim`): it
records each pass with `lessons.progress.record` and reports it to the room
through the channel layer (Redis), as a check round does, and prints when.
"""
from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import threading
import time

import websockets

from tests.classroom import Attendee, cookie_header, ws_url
from tests.support import ROOT, LiveServer


class SimulatedRoom:
    def __init__(self, server: LiveServer, code: str, size: int, slide_every: float = 0):
        self.server, self.code = server, code
        self.attendees = [Attendee(server, code, f"Learner {i:03d}") for i in range(size)]
        assert all(a.join_response.status_code == 200 for a in self.attendees)
        self.slide_every = slide_every
        self.connected = 0
        self.sockets: list = []
        self.loop = asyncio.new_event_loop()
        self.stopping: asyncio.Event | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while self.connected < size and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.connected == size, f"only {self.connected} of {size} progress sockets opened"

    async def _main(self) -> None:
        self.stopping = asyncio.Event()
        await asyncio.gather(*(self._learner(a) for a in self.attendees), return_exceptions=True)

    async def _learner(self, attendee: Attendee) -> None:
        async with websockets.connect(ws_url(self.server, "/ws/progress/intro/"), origin=self.server.url,
                                      additional_headers={"Cookie": cookie_header(attendee.http)},
                                      max_size=None) as ws:
            self.sockets.append(ws)
            await ws.recv()  # the progress state: the consumer is up
            self.connected += 1
            slide = 1
            await ws.send(json.dumps({"type": "slide", "number": slide}))
            while not self.stopping.is_set():
                wait = random.uniform(0.5, 1.5) * self.slide_every if self.slide_every else 3600
                try:
                    await asyncio.wait_for(self._drain(ws), wait)
                except TimeoutError:
                    slide += 1
                    await ws.send(json.dumps({"type": "slide", "number": slide}))

    async def _drain(self, ws) -> None:
        while not self.stopping.is_set():
            await ws.recv()

    async def _close_all(self) -> None:
        self.stopping.set()
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close_all(), self.loop).result(20)
        self.thread.join(10)
        self.loop.close()


def drive(server: LiveServer, code: str, exercises: list[str], rate: float, commands: float = 0) -> list[dict]:
    """Pass each exercise for every learner of the workshop, `rate` passes a
    second (and `commands` shell commands a second), from another process;
    returns when each pass was recorded (epoch milliseconds)."""
    out = subprocess.run(
        [sys.executable, "-m", "tests.roomsim", code, ",".join(exercises), str(rate), str(commands)],
        cwd=ROOT, env=server.env, check=True, capture_output=True, text=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def _drive_main(code: str, exercises: list[str], rate: float, commands: float) -> None:
    import django

    django.setup()
    from channels.db import database_sync_to_async

    from labdeck.models import Workshop
    from lessons import progress, rooms
    from lessons.models import Progress

    workshop = Workshop.objects.get(code=code)
    learners = list(workshop.learners.all())
    passes = [(learner, exercise) for exercise in exercises for learner in random.sample(learners, len(learners))]

    async def run() -> None:
        started = time.monotonic()
        next_command = 0.0
        for i, (learner, exercise) in enumerate(passes):
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            sent = time.time() * 1000
            await database_sync_to_async(progress.record)(
                learner.owner, workshop.course, exercise, Progress.PASSED, [], False)
            await rooms.report(workshop.room, learner.owner, "progress", exercises={exercise: Progress.PASSED})
            print(json.dumps({"learner": learner.pk, "exercise": exercise, "sent": sent}), flush=True)
            while commands and next_command <= time.monotonic() - started:
                typist = random.choice(learners)
                await rooms.report(workshop.room, typist.owner, "command", command="docker ps -a")
                next_command += 1 / commands

    asyncio.run(run())


if __name__ == "__main__":
    _drive_main(sys.argv[1], sys.argv[2].split(","), float(sys.argv[3]), float(sys.argv[4]))
