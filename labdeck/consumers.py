"""The instructor's websockets: the live dashboard of a workshop, and a
read-only view of one learner's terminal.

The dashboard listens to the room's staff group (lessons.rooms), turns
learner events into small updates and sends them in batches, so that a room
of 200 costs the page a few messages a second, not one per event.
"""
from __future__ import annotations

import asyncio
import logging
import time

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from labdeck import workshops
from labdeck.models import Learner, Workshop
from lessons import rooms
from lessons.probe import recent_commands
from sandboxes import pool, protocol, tell
from sandboxes.backends import BackendUnavailable, SandboxError
from sandboxes.consumers import TerminalConsumer
from sandboxes.models import Sandbox, WaitingLearner

log = logging.getLogger(__name__)

# Updates wait this long to travel together: a room of 200 passing the same
# exercise becomes a handful of messages.
BATCH_SECONDS = 0.2
WARMUP_EVERY = 2.0


@database_sync_to_async
def _workshop_for(user, code: str) -> tuple[Workshop | None, int]:
    """The workshop if this user may run it, else the close code why not."""
    workshop = Workshop.objects.filter(code=code.upper()).first()
    if workshop is None:
        return None, 4404
    if not workshop.visible_to(user):
        return None, 4403
    return workshop, 0


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()
        self.workshop, problem = await _workshop_for(self.scope["user"], self.scope["url_route"]["kwargs"]["code"])
        if problem:
            message = "No such workshop." if problem == 4404 else "This dashboard belongs to another instructor."
            await self.send_json({"type": "error", "message": message})
            return await self.close(code=problem)
        self.pending: list[dict] = []
        self.flusher: asyncio.Task | None = None
        self.room = self.workshop.room
        await self.channel_layer.group_add(rooms.staff_group(self.room), self.channel_name)
        # The pool keeper's news of the workshop's sandboxes (one stopped, and why).
        await self.channel_layer.group_add(tell.pool_watch_group(self.workshop.pool_group), self.channel_name)
        snapshot = await database_sync_to_async(workshops.snapshot)(self.workshop)
        self.owners = await self._owners()
        self.connected: set[str] = set()
        self.slides: dict[str, int | None] = {}
        self.warmup = snapshot["warmup"]
        await self.send_json(snapshot)
        await rooms.tell_room(self.room, "roll_call")
        self.ticker = asyncio.get_running_loop().create_task(self.watch_warmup())

    async def disconnect(self, code: int) -> None:
        if getattr(self, "room", None):
            await self.channel_layer.group_discard(rooms.staff_group(self.room), self.channel_name)
            await self.channel_layer.group_discard(tell.pool_watch_group(self.workshop.pool_group), self.channel_name)
            self.ticker.cancel()

    @database_sync_to_async
    def _owners(self) -> dict[str, int]:
        return dict(self.workshop.learners.filter(removed_at__isnull=True).values_list("owner", "pk"))

    # ----------------------------------------------------------- updates out

    def queue(self, item: dict) -> None:
        self.pending.append(item)
        if self.flusher is None or self.flusher.done():
            self.flusher = asyncio.get_running_loop().create_task(self.flush())

    async def flush(self) -> None:
        await asyncio.sleep(BATCH_SECONDS)
        items, self.pending = self.pending, []
        if items:
            await self.send_json({"type": "updates", "items": items, "sent": time.time() * 1000})

    async def watch_warmup(self) -> None:
        """Sandboxes warm up in the pool keeper: look every few seconds."""
        while True:
            await asyncio.sleep(WARMUP_EVERY)
            counts = await database_sync_to_async(workshops.warmup)(self.workshop)
            if counts != self.warmup:
                self.warmup = counts
                self.queue({"kind": "warmup", "warmup": counts})

    async def refresh_learner(self, learner_id: int) -> None:
        rows = await database_sync_to_async(
            lambda: workshops.learner_dicts(self.workshop, list(Learner.objects.filter(pk=learner_id))))()
        if rows:
            owner = next((o for o, pk in self.owners.items() if pk == learner_id), "")
            # Presence is not in the database: what this dashboard heard.
            rows[0].update(connected=owner in self.connected, slide=self.slides.get(owner))
            self.queue({"kind": "learner", "learner": rows[0]})

    async def sandbox_changed(self, event: dict) -> None:
        """A learner's sandbox stopped or came back (sandboxes.tell)."""
        learner_id = self.owners.get(event.get("owner", ""))
        if learner_id is not None:
            await self.refresh_learner(learner_id)

    async def room_event(self, event: dict) -> None:
        """A learner's page reported something (lessons.rooms.report)."""
        kind, owner = event["kind"], event.get("owner", "")
        if kind == "workshop":
            self.workshop = await database_sync_to_async(Workshop.objects.get)(pk=self.workshop.pk)
            return self.queue({"kind": "workshop", "workshop": workshops.workshop_dict(self.workshop)})
        learner_id = self.owners.get(owner)
        if learner_id is None:
            self.owners = await self._owners()
            learner_id = self.owners.get(owner)
            if learner_id is None:
                return
            await self.refresh_learner(learner_id)
        if kind == "presence":
            self.slides[owner] = event.get("slide")
            self.queue({"kind": "presence", "learner": learner_id, "connected": event["connected"],
                        "slide": event.get("slide")})
            if not event["connected"]:
                self.connected.discard(owner)
                await rooms.tell_learner(owner, "roll_call")  # another tab may still be open
            elif owner not in self.connected:
                self.connected.add(owner)
                if self.workshop.lead_slide:  # a late-comer follows the lead too
                    await rooms.tell_learner(owner, "lead", slide=self.workshop.lead_slide)
        elif kind == "progress":
            for exercise, status in event["exercises"].items():
                self.queue({"kind": "progress", "learner": learner_id, "exercise": exercise,
                            "status": status, "at": event["at"]})
        elif kind == "command":
            self.queue({"kind": "command", "learner": learner_id, "command": event["command"], "at": event["at"]})
        elif kind in ("sandbox", "joined"):
            await self.refresh_learner(learner_id)

    # ------------------------------------------------------------ actions in

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict) or not hasattr(self, "owners"):
            return
        kind = content.get("type")
        learner = await self._learner(content.get("learner")) if "learner" in content else None
        if kind == "commands" and learner:
            # A read of the sandbox: in a thread of its own, never the process's one sync thread.
            commands = await sync_to_async(_commands_of, thread_sensitive=False)(learner.owner)
            await self.send_json({"type": "commands", "learner": learner.pk, "commands": commands})
        elif kind == "broadcast" and isinstance(content.get("message"), str) and content["message"].strip():
            await rooms.tell_room(self.room, "broadcast", message=content["message"].strip()[:500],
                                  sender=self.scope["user"].get_full_name() or self.scope["user"].get_username())
            await self.notice("Message sent to the room.")
        elif kind == "lead":
            slide = content.get("slide")
            slide = slide if isinstance(slide, int) and slide > 0 else None
            await database_sync_to_async(Workshop.objects.filter(pk=self.workshop.pk).update)(lead_slide=slide)
            await rooms.tell_room(self.room, "lead", slide=slide)
            await rooms.report(self.room, "", "workshop")
        elif kind == "reset" and learner:
            await sync_to_async(pool.release)(learner.owner, "reset by the instructor")
            await rooms.tell_learner(learner.owner, "reset")
            await self.refresh_learner(learner.pk)
            await self.notice(f"{learner.display_name} gets a fresh sandbox.")
        elif kind == "extend" and learner:
            sandbox = await sync_to_async(pool.extend)(learner.owner, settings.LABDECK_EXTEND_BY)
            await self.refresh_learner(learner.pk)
            await self.notice(f"{learner.display_name}'s sandbox now lasts until "
                              f"{sandbox.expires_at:%H:%M} UTC." if sandbox else
                              f"{learner.display_name} has no sandbox to extend.")
        elif kind == "remove" and learner:
            await sync_to_async(_remove)(learner)
            await rooms.tell_learner(learner.owner, "removed")
            self.owners.pop(learner.owner, None)
            self.queue({"kind": "removed", "learner": learner.pk})
            await self.notice(f"{learner.display_name} was removed from the workshop.")
        elif kind == "end":
            stopped = await sync_to_async(workshops.end)(self.workshop)
            await rooms.tell_room(self.room, "ended", message="The workshop has ended. Your progress is kept.")
            await rooms.report(self.room, "", "workshop")
            await self.notice(f"Workshop ended; {stopped} sandbox(es) stopped. Progress is kept.")
        elif kind == "warmup":
            await database_sync_to_async(workshops.warm_up_now)(self.workshop)
            await self.notice("Warming up: sandboxes are being prepared.")

    @database_sync_to_async
    def _learner(self, learner_id) -> Learner | None:
        if not isinstance(learner_id, int):
            return None
        return Learner.objects.filter(pk=learner_id, workshop=self.workshop, removed_at__isnull=True).first()

    async def notice(self, message: str) -> None:
        await self.send_json({"type": "notice", "message": message})


def _commands_of(owner: str) -> list[dict]:
    sandbox = pool.current(owner)
    if sandbox is None or sandbox.state != Sandbox.ASSIGNED:
        return []
    try:
        return recent_commands(sandbox.handle)
    except (SandboxError, BackendUnavailable):
        return []


def _remove(learner: Learner) -> None:
    Learner.objects.filter(pk=learner.pk).update(removed_at=timezone.now())
    WaitingLearner.objects.filter(owner=learner.owner).delete()
    pool.release(learner.owner, "removed by the instructor")


@database_sync_to_async
def _watched_sandbox(user, code: str, learner_id: str) -> tuple[Sandbox | None, int, str]:
    workshop = Workshop.objects.filter(code=code.upper()).first()
    if workshop is None:
        return None, 4404, "No such workshop."
    if not workshop.visible_to(user):
        return None, 4403, "This workshop belongs to another instructor."
    learner = workshop.learners.filter(pk=int(learner_id), removed_at__isnull=True).first()
    sandbox = pool.current(learner.owner) if learner else None
    if sandbox is None or sandbox.state != Sandbox.ASSIGNED:
        return None, 4409, "This learner has no running sandbox."
    return sandbox, 0, ""


class WatchConsumer(TerminalConsumer):
    """An instructor's read-only view of a learner's terminal, from any web
    process: a read-only client of the learner's shell holder, shown at the
    size of the learner's screen (the session passes the holder's STATUS
    "size" on). The learner's page is told while anyone watches; keystrokes
    here go nowhere."""

    watcher = True

    async def connect(self) -> None:
        await self.accept()
        kwargs = self.scope["url_route"]["kwargs"]
        sandbox, code, message = await _watched_sandbox(self.scope["user"], kwargs["code"], kwargs["learner_id"])
        if sandbox is None:
            return await self.refuse(code, "closed", message)
        handle = await self.machine(sandbox)
        if handle is None:
            return None
        await self.join_group(handle)
        self.session = await self.open_session(handle)
        if self.session is not None:
            await self.tell_terminals("watch", on=True)

    async def disconnect(self, code: int) -> None:
        await super().disconnect(code)
        await self.tell_terminals("watch", on=False)

    async def terminal_roll_call(self, event: dict) -> None:
        if self.session is not None:
            await self.tell_terminals("watch", on=True)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if bytes_data and bytes_data[0] == protocol.INPUT:
            await self.send(bytes_data=protocol.status("warning", "This view is read-only."))
        elif bytes_data and bytes_data[0] == protocol.ACK and self.session is not None:
            await super().receive(text_data, bytes_data)
