"""The progress websocket of the player: exercises turn green live.

A check round runs when the learner's shell finishes a command (the terminal
session tells the sandbox's group), when the sandbox's engine reports an
event, and when the learner presses Check. Rounds never overlap: triggers
that arrive during one cause exactly one more.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from lessons import catalog, catchup, progress, rooms
from lessons.engine_watch import EngineWatch
from sandboxes import pool
from sandboxes.models import Sandbox
from sandboxes.owners import owner_key, room
from sandboxes.terminal import sandbox_group

log = logging.getLogger(__name__)

# Engine events caused by a round itself (e.g. running an image to read its
# output) must not start another: events this soon after a round are ignored.
QUIET_AFTER_ROUND = 0.5
# At most this many seconds between looks for a sandbox that no start view
# announced.
ASSIGNED_POLL = 10
# The name of the task of a running catch-up (one at a time per connection).
CATCHUP = "catchup"


@database_sync_to_async
def _assigned_handle(owner: str) -> str | None:
    sandbox = pool.current(owner)
    return sandbox.handle if sandbox and sandbox.state == Sandbox.ASSIGNED else None


class ProgressConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()
        self.course = catalog.get(self.scope["url_route"]["kwargs"]["slug"])
        self.owner = owner_key(self.scope.get("session") or {}, create=False)
        if self.course is None or not self.owner:
            await self.send_json({"type": "error", "message": "No such course, or no learner session."})
            return await self.close(code=4404)
        self.handle: str | None = None
        self.watch: EngineWatch | None = None
        self.running = False
        self.again: str | None | bool = False
        self.quiet_until = 0.0
        # Rounds check the section the learner is on (None: every exercise,
        # until the page says where it is).
        self.watched: set[str] | None = None
        self.tasks: list[asyncio.Task] = []
        # The classroom this learner is in, if any (lessons.rooms).
        self.room, self.slide = room(self.scope.get("session") or {}), None
        self.assigned = asyncio.Event()
        await self.channel_layer.group_add(rooms.learner_group(self.owner), self.channel_name)
        if self.room:
            await self.channel_layer.group_add(self.room, self.channel_name)
        state = await database_sync_to_async(progress.state)(self.owner, self.course)
        await self.send_json({"type": "progress", "exercises": state})
        await self.report_presence(True)
        self.follower = asyncio.get_running_loop().create_task(self.follow_sandbox())
        self.tasks.append(self.follower)

    async def disconnect(self, code: int) -> None:
        for task in getattr(self, "tasks", []):
            task.cancel()
        if getattr(self, "handle", None):
            await self.channel_layer.group_discard(sandbox_group(self.handle), self.channel_name)
        if getattr(self, "owner", None):
            await self.channel_layer.group_discard(rooms.learner_group(self.owner), self.channel_name)
        if getattr(self, "room", None):
            await self.channel_layer.group_discard(self.room, self.channel_name)
            await self.report_presence(False)

    async def report_presence(self, connected: bool) -> None:
        await rooms.report(self.room, self.owner, "presence", connected=connected, slide=self.slide)

    async def follow_sandbox(self) -> None:
        """Wait for the learner's sandbox, then watch its engine's events."""
        wait = 1.0
        while self.handle is None:
            self.assigned.clear()
            self.handle = await _assigned_handle(self.owner)
            if self.handle is None:
                # The start view says when it hands out a sandbox
                # (sandbox_assigned); looking again is a fallback only.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.assigned.wait(), wait)
                wait = min(wait * 2, ASSIGNED_POLL)
        await self.channel_layer.group_add(sandbox_group(self.handle), self.channel_name)
        await rooms.report(self.room, self.owner, "sandbox")
        self.trigger()
        self.watch = EngineWatch(self.handle, self.engine_event)
        await self.watch.run()

    def engine_event(self, event: dict) -> None:
        if time.monotonic() >= self.quiet_until:
            self.trigger()

    def trigger(self, explicit: str | None = None) -> None:
        if self.running:
            self.again = explicit or self.again or True
            return
        self.running = True
        self.tasks.append(asyncio.get_running_loop().create_task(self.rounds(explicit)))

    async def rounds(self, explicit: str | None) -> None:
        try:
            while True:
                if self.handle:
                    departed = self.watch.departed_list() if self.watch else []
                    changed = await database_sync_to_async(progress.check_round)(
                        self.owner, self.course, self.handle, explicit, self.watched, departed)
                    self.quiet_until = time.monotonic() + QUIET_AFTER_ROUND
                    if changed or explicit:
                        await self.send_json({"type": "progress", "exercises": changed})
                    if changed:
                        await rooms.report(self.room, self.owner, "progress",
                                           exercises={eid: info["status"] for eid, info in changed.items()})
                if not self.again:
                    break
                explicit = self.again if isinstance(self.again, str) else None
                self.again = False
        finally:
            self.running = False

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict):
            return
        kind, exercise = content.get("type"), content.get("exercise")
        if kind == "check" and isinstance(exercise, str):
            self.trigger(exercise)
        elif kind == "slide" and isinstance(content.get("number"), int):
            if content["number"] != self.slide:
                self.slide = content["number"]
                await self.report_presence(True)
            section = self.course.section_of(content["number"])
            watched = section.exercise_ids() if section else set()
            if watched != self.watched:
                self.watched = watched
                self.trigger()
        elif kind == "hint" and isinstance(exercise, str):
            await database_sync_to_async(progress.hint_used)(self.owner, self.course, exercise)
        elif kind == "catchup" and isinstance(content.get("slide"), int):
            self.start_catchup(content["slide"])

    def start_catchup(self, slide: int) -> None:
        """Run the earlier sections' exercises in the sandbox (lessons/catchup.py):
        one catch-up at a time, and only once the learner has a sandbox."""
        if self.handle is None or any(t.get_name() == CATCHUP and not t.done() for t in self.tasks):
            return
        try:
            exercises = catchup.exercises_before(self.course, slide)
        except ValueError:
            return

        async def report(step: catchup.Report) -> None:
            await self.send_json({"type": "catchup", **asdict(step)})

        task = catchup.catch_up(self.handle, exercises, report)
        self.tasks.append(asyncio.get_running_loop().create_task(task, name=CATCHUP))

    async def sandbox_assigned(self, event: dict) -> None:
        self.assigned.set()

    async def sandbox_command_done(self, event: dict) -> None:
        self.trigger()
        if event.get("command"):
            await rooms.report(self.room, self.owner, "command", command=event["command"][:500])

    async def room_message(self, event: dict) -> None:
        """What the classroom says to the room or to this learner."""
        kind = event.get("kind")
        if kind == "roll_call":
            await self.report_presence(True)
        elif kind == "reset":
            await self.follow_new_sandbox()
            await self.send_json({"type": "reset", "message": "Your instructor gave you a fresh sandbox."})
        elif kind == "removed":
            await self.send_json({"type": "removed", "message": "Your instructor removed you from the workshop."})
            await self.close(code=4403)
        elif kind in ("broadcast", "lead", "ended"):
            await self.send_json({"type": kind, **{k: v for k, v in event.items() if k not in ("type", "kind")}})

    async def follow_new_sandbox(self) -> None:
        """The old sandbox is gone: watch for the next one."""
        self.follower.cancel()
        for task in self.tasks:
            if task.get_name() == CATCHUP:
                task.cancel()
        if self.handle:
            await self.channel_layer.group_discard(sandbox_group(self.handle), self.channel_name)
        self.handle, self.watch = None, None
        self.follower = asyncio.get_running_loop().create_task(self.follow_sandbox())
        self.tasks.append(self.follower)
