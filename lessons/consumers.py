"""The progress websocket of the player: exercises turn green live.

The checks themselves run in the checker worker (lessons.worker), one loop
per sandbox, whether or not a page is open. This consumer tells the worker
what the learner looks at (the course and section: a CheckScope row) and when
they press Check, and passes the worker's results to the page. It also reports
the learner's presence and slide to their room, and runs a catch-up when asked.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from lessons import catalog, catchup, progress, rooms, worker
from lessons.models import CheckScope
from sandboxes import pool
from sandboxes.models import Sandbox
from sandboxes.owners import owner_key, room

log = logging.getLogger(__name__)

# The name of the task of a running catch-up (one at a time per connection).
CATCHUP = "catchup"


@database_sync_to_async
def _assigned_handle(owner: str) -> str | None:
    sandbox = pool.current(owner)
    return sandbox.handle if sandbox and sandbox.state == Sandbox.ASSIGNED else None


@database_sync_to_async
def _scope(owner: str, course: str, room_name: str, sections: list[str] | None = None) -> None:
    defaults = {"room": room_name} if sections is None else {"room": room_name, "sections": sections}
    CheckScope.objects.update_or_create(owner=owner, course=course, defaults=defaults)


class ProgressConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()
        self.course = catalog.get(self.scope["url_route"]["kwargs"]["slug"])
        self.owner = owner_key(self.scope.get("session") or {}, create=False)
        if self.course is None or not self.owner:
            await self.send_json({"type": "error", "message": "No such course, or no learner session."})
            return await self.close(code=4404)
        self.tasks: list[asyncio.Task] = []
        # The classroom this learner is in, if any (lessons.rooms).
        self.room, self.slide, self.section = room(self.scope.get("session") or {}), None, None
        await self.channel_layer.group_add(rooms.learner_group(self.owner), self.channel_name)
        if self.room:
            await self.channel_layer.group_add(self.room, self.channel_name)
        state = await database_sync_to_async(progress.state)(self.owner, self.course)
        await self.send_json({"type": "progress", "exercises": state})
        await _scope(self.owner, self.course.slug, self.room)
        if worker.embedded():
            worker.start_embedded()
        await worker.ask(self.owner, self.course.slug)
        await self.report_presence(True)

    async def disconnect(self, code: int) -> None:
        for task in getattr(self, "tasks", []):
            task.cancel()
        if getattr(self, "owner", None):
            await self.channel_layer.group_discard(rooms.learner_group(self.owner), self.channel_name)
        if getattr(self, "room", None):
            await self.channel_layer.group_discard(self.room, self.channel_name)
            await self.report_presence(False)

    async def report_presence(self, connected: bool) -> None:
        await rooms.report(self.room, self.owner, "presence", connected=connected, slide=self.slide)

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict):
            return
        kind, exercise = content.get("type"), content.get("exercise")
        if kind == "check" and isinstance(exercise, str):
            await worker.ask(self.owner, self.course.slug, exercise)
        elif kind == "slide" and isinstance(content.get("number"), int):
            if content["number"] != self.slide:
                self.slide = content["number"]
                await self.report_presence(True)
            section = self.course.section_of(content["number"])
            if section and section.id != self.section:
                self.section = section.id
                await _scope(self.owner, self.course.slug, self.room, [section.id])
                await worker.ask(self.owner, self.course.slug)
        elif kind == "hint" and isinstance(exercise, str):
            await database_sync_to_async(progress.hint_used)(self.owner, self.course, exercise)
        elif kind == "catchup" and isinstance(content.get("slide"), int):
            await self.start_catchup(content["slide"])

    async def start_catchup(self, slide: int) -> None:
        """Run the earlier sections' exercises in the sandbox (lessons/catchup.py):
        one catch-up at a time, and only once the learner has a sandbox."""
        handle = await _assigned_handle(self.owner)
        if handle is None or any(t.get_name() == CATCHUP and not t.done() for t in self.tasks):
            return
        try:
            exercises = catchup.exercises_before(self.course, slide)
        except ValueError:
            return

        async def report(step: catchup.Report) -> None:
            await self.send_json({"type": "catchup", **asdict(step)})

        task = catchup.catch_up(handle, exercises, report)
        self.tasks.append(asyncio.get_running_loop().create_task(task, name=CATCHUP))

    async def progress_update(self, event: dict) -> None:
        """A check round of the worker changed something (or answered Check)."""
        if event.get("course") == self.course.slug:
            await self.send_json({"type": "progress", "exercises": event["exercises"]})

    async def sandbox_assigned(self, event: dict) -> None:
        await worker.ask(self.owner, self.course.slug)

    async def room_message(self, event: dict) -> None:
        """What the classroom says to the room or to this learner."""
        kind = event.get("kind")
        if kind == "roll_call":
            await self.report_presence(True)
        elif kind == "reset":
            for task in self.tasks:
                if task.get_name() == CATCHUP:
                    task.cancel()
            await self.send_json({"type": "reset", "message": "Your instructor gave you a fresh sandbox."})
        elif kind == "removed":
            await self.send_json({"type": "removed", "message": "Your instructor removed you from the workshop."})
            await self.close(code=4403)
        elif kind in ("broadcast", "lead", "ended", "lost", "revived"):
            await self.send_json({"type": kind, **{k: v for k, v in event.items() if k not in ("type", "kind")}})
