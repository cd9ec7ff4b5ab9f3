"""The progress websocket of the player: exercises turn green live.

A check round runs when the learner's shell finishes a command (the terminal
session tells the sandbox's group), when the sandbox's engine reports an
event, and when the learner presses Check. Rounds never overlap: triggers
that arrive during one cause exactly one more.
"""
from __future__ import annotations

import asyncio
import logging
import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from lessons import catalog, progress
from sandboxes import pool
from sandboxes.backends import BackendUnavailable, SandboxError, get_backend
from sandboxes.models import Sandbox
from sandboxes.owners import owner_key
from sandboxes.terminal import sandbox_group

log = logging.getLogger(__name__)

# Engine events caused by a round itself (e.g. running an image to read its
# output) must not start another: events this soon after a round are ignored.
QUIET_AFTER_ROUND = 0.5
EVENTS = ["docker", "events", "--format", "{{.Type}} {{.Action}}"]


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
        self.running = False
        self.again: str | None | bool = False
        self.quiet_until = 0.0
        # Rounds check the section the learner is on (None: every exercise,
        # until the page says where it is).
        self.watched: set[str] | None = None
        self.tasks: list[asyncio.Task] = []
        state = await database_sync_to_async(progress.state)(self.owner, self.course)
        await self.send_json({"type": "progress", "exercises": state})
        self.tasks.append(asyncio.get_running_loop().create_task(self.follow_sandbox()))

    async def disconnect(self, code: int) -> None:
        for task in getattr(self, "tasks", []):
            task.cancel()
        if getattr(self, "handle", None):
            await self.channel_layer.group_discard(sandbox_group(self.handle), self.channel_name)

    async def follow_sandbox(self) -> None:
        """Wait for the learner's sandbox, then watch its engine's events."""
        while self.handle is None:
            self.handle = await _assigned_handle(self.owner)
            if self.handle is None:
                await asyncio.sleep(1)
        await self.channel_layer.group_add(sandbox_group(self.handle), self.channel_name)
        self.trigger()
        while True:
            try:
                stream = await get_backend().open_terminal(self.handle, 200, 24, argv=EVENTS)
            except (BackendUnavailable, SandboxError):
                await asyncio.sleep(2)
                continue
            try:
                while await stream.read(4096):
                    if time.monotonic() >= self.quiet_until:
                        self.trigger()
            finally:
                await stream.close()
            await asyncio.sleep(1)

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
                    changed = await database_sync_to_async(progress.check_round)(
                        self.owner, self.course, self.handle, explicit, self.watched)
                    self.quiet_until = time.monotonic() + QUIET_AFTER_ROUND
                    if changed or explicit:
                        await self.send_json({"type": "progress", "exercises": changed})
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
            section = self.course.section_of(content["number"])
            watched = section.exercise_ids() if section else set()
            if watched != self.watched:
                self.watched = watched
                self.trigger()
        elif kind == "hint" and isinstance(exercise, str):
            await database_sync_to_async(progress.hint_used)(self.owner, self.course, exercise)

    async def sandbox_command_done(self, event: dict) -> None:
        self.trigger()
