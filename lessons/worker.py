"""The checker worker: one check loop per assigned sandbox, not per page.

A sandbox is checked whether or not a page is open, and once however many
are. The worker also delivers the pool keeper's notices (sandboxes.tell):
it runs where the pages can be reached. Each loop follows the sandbox's engine (lessons.engine_watch) and its
shell's finished commands (/run/labdeck-commands, written by the prompt), and
runs a round when either says something changed, or when a page asks (Check,
a new slide). Rounds never overlap per sandbox: triggers during one cause
exactly one more. Results go to the learner's pages and their room through
the channel layer (lessons.rooms).

It runs as `manage.py checkerd` beside the web processes, which then need a
channel layer that crosses processes (Redis); without one (`make run`), the
web process runs it itself (start_embedded).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import DatabaseError, close_old_connections

from lessons import catalog, progress, rooms
from lessons.engine_watch import EngineWatch
from lessons.models import CheckScope
from sandboxes import tell
from sandboxes.backends import BackendUnavailable, SandboxError, get_backend
from sandboxes.models import Sandbox

log = logging.getLogger(__name__)

# Where pages send their requests ({"type": "check.request", "owner", ...}).
GROUP = "checker"
# Engine events caused by a round itself (running an image to read its output,
# say) must not start another: events this soon after a round are ignored.
QUIET_AFTER_ROUND = 0.5
REJOIN_EVERY = 2.0
REFRESH_EVERY = 1.0
# After a round that the database refused (it is restarting), the next try.
RETRY_AFTER = 2.0
REPORT_EVERY = 5.0
# The whole file (the shell keeps it short), not only what comes after the
# follower starts: a command typed in the moment between a sandbox's
# assignment and this follower's start must reach the dashboard too.
COMMANDS = ["sh", "-c", "touch /run/labdeck-commands && exec tail -n +1 -F /run/labdeck-commands 2>/dev/null"]
# On a worker's first look at a sandbox, the commands of this last while
# count as new (a learner types during the start, or while a worker restarts).
COMMANDS_LOOKBACK = 60


def _assigned(shard: int, shards: int) -> dict[str, tuple[str, int]]:
    """handle -> (owner, nodes), for the assigned sandboxes of this shard."""
    rows = Sandbox.objects.filter(state=Sandbox.ASSIGNED).exclude(handle="").values_list(
        "pk", "handle", "owner", "nodes")
    close_old_connections()
    return {handle: (owner, nodes) for pk, handle, owner, nodes in rows if pk % shards == shard}


def _notices(shard: int, shards: int) -> list[Sandbox]:
    try:
        return tell.waiting(shard, shards)
    finally:
        close_old_connections()


def _delivered(sandbox: Sandbox) -> None:
    try:
        tell.delivered(sandbox)
    finally:
        close_old_connections()


def _round(owner: str, handle: str, explicit: tuple[str, str] | None, departed: list[dict]) -> list[dict]:
    """One round over the learner's scopes: what changed, per course and room."""
    reports = []
    try:
        scopes = list(CheckScope.objects.filter(owner=owner))
        for scope in scopes:
            course = catalog.get(scope.course)
            if course is None:
                continue
            asked = explicit[1] if explicit and explicit[0] == scope.course else None
            watched = None
            if scope.sections:
                watched = {eid for s in course.sections() if s.id in scope.sections for eid in s.exercise_ids()}
            changed = progress.check_round(owner, course, handle, asked, watched, departed)
            if changed or asked:
                reports.append({"course": scope.course, "room": scope.room, "exercises": changed, "asked": asked})
    finally:
        close_old_connections()
    return reports


class CommandsSeen:
    """What one machine's commands follower has reported: the newest second,
    and how often each line of that second was reported and has been read on
    this connection (a reconnecting follower reads the file from its start)."""

    def __init__(self, node: int):
        self.node = node
        self.second = int(time.time()) - COMMANDS_LOOKBACK
        self.reported: Counter[str] = Counter()
        self.read: Counter[str] = Counter()


class SandboxChecker:
    """The check loop of one sandbox (of all machines of a node set: the
    engine of node1 is watched, the commands of every node followed)."""

    def __init__(self, worker: Worker, handle: str, owner: str, nodes: int = 1):
        self.worker, self.handle, self.owner, self.nodes = worker, handle, owner, nodes
        self.watch = EngineWatch(handle, self.on_event)
        self.running = False
        self.again = False
        self.asked: list[tuple[str, str]] = []
        self.quiet_until = 0.0
        self.tasks: list[asyncio.Task] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self.watch.run())]
        self.tasks += [loop.create_task(self.follow_commands(CommandsSeen(node)))
                       for node in range(1, self.nodes + 1)]
        self.trigger()

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()

    def on_event(self, event: dict) -> None:
        if time.monotonic() >= self.quiet_until:
            self.trigger()

    def trigger(self, asked: tuple[str, str] | None = None) -> None:
        if asked:
            self.asked.append(asked)
        if self.running:
            self.again = True
            return
        self.running = True
        self.tasks.append(asyncio.get_running_loop().create_task(self.rounds()))

    async def rounds(self) -> None:
        try:
            while True:
                self.again = False
                explicit = self.asked.pop(0) if self.asked else None
                try:
                    reports = await self.worker.run(_round, self.owner, self.handle, explicit,
                                                    self.watch.departed_list())
                except (SandboxError, BackendUnavailable) as exc:
                    log.info("check round of %s: %s", self.handle, exc)
                    reports = []
                except DatabaseError as exc:
                    # The database is restarting: what the round would have
                    # found is still there to find in a moment.
                    log.warning("check round of %s: database: %s; again in %.0f s", self.handle, exc, RETRY_AFTER)
                    asyncio.get_running_loop().call_later(RETRY_AFTER, self.trigger, explicit)
                    reports = []
                self.quiet_until = time.monotonic() + QUIET_AFTER_ROUND
                self.worker.rounds += 1
                for report in reports:
                    await self.worker.publish(self.owner, report)
                if not self.again and not self.asked:
                    break
        finally:
            self.running = False

    async def follow_commands(self, seen: CommandsSeen) -> None:
        """Each finished shell command of the machine starts a round and goes to the room."""
        handle = get_backend().node_handle(self.handle, seen.node)
        while True:
            try:
                relay = await get_backend().open_relay_async(handle, COMMANDS)
                seen.read = Counter()
                try:
                    pending = b""
                    while data := await relay.recv(65536):
                        pending = (pending + data)[-65536:]
                        *lines, pending = pending.split(b"\n")
                        for line in lines:
                            await self.command_done(line.decode("utf-8", "replace"), seen)
                finally:
                    await relay.close()
            except (SandboxError, BackendUnavailable, OSError) as exc:
                log.debug("commands of %s: %s", handle, exc)
            await asyncio.sleep(2)

    async def command_done(self, line: str, seen: CommandsSeen) -> None:
        parts = line.split(" ", 2)
        if len(parts) < 3 or not parts[0].isdigit() or len(parts[0]) > 12:
            return
        # The learner can write this file: a second from the future counts
        # as now, or it would hide every later command.
        second = min(int(parts[0]), int(time.time()))
        if second < seen.second:
            return  # reported before, or from before this worker's time
        if second > seen.second:
            seen.second, seen.reported, seen.read = second, Counter(), Counter()
        seen.read[line] += 1
        if seen.read[line] <= seen.reported[line]:
            return
        seen.reported[line] += 1
        self.trigger()
        command = parts[2][:500] if self.nodes == 1 else f"node{seen.node}: {parts[2][:490]}"
        with contextlib.suppress(Exception):  # a dashboard misses a command while Redis restarts
            for room in await self.worker.rooms_of(self.owner):
                await rooms.report(room, self.owner, "command", command=command)


class Worker:
    """Every assigned sandbox of its shard, each with its check loop."""

    def __init__(self, shard: int = 0, shards: int = 1, threads: int = 8):
        self.shard, self.shards = shard, shards
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="checker")
        self.checkers: dict[str, SandboxChecker] = {}
        self.rounds = 0

    async def run(self, func, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, func, *args)

    async def serve(self) -> None:
        """Until cancelled: keep one loop per assigned sandbox, and take the pages' requests."""
        layer = get_channel_layer()
        channel = await layer.new_channel()
        listener = asyncio.get_running_loop().create_task(self.listen(layer, channel))
        reported = time.monotonic()
        try:
            while True:
                with contextlib.suppress(Exception):
                    await self.refresh()
                if time.monotonic() - reported >= REPORT_EVERY:
                    reported = time.monotonic()
                    # What an operator (and the bench) reads of the worker's pace.
                    log.info("checker: %d rounds so far, %d sandboxes", self.rounds, len(self.checkers))
                await asyncio.sleep(REFRESH_EVERY)
        finally:
            listener.cancel()
            for checker in self.checkers.values():
                checker.stop()
            with contextlib.suppress(Exception):
                await layer.group_discard(GROUP, channel)

    async def refresh(self) -> None:
        for sandbox in await self.run(_notices, self.shard, self.shards):
            try:
                await tell.deliver(sandbox)
            except Exception as exc:  # the channel layer's own errors: the notice stays
                log.warning("checker: could not tell %s's pages: %s", sandbox.owner, exc)
                break
            await self.run(_delivered, sandbox)
        assigned = await self.run(_assigned, self.shard, self.shards)
        for handle in list(self.checkers):
            if assigned.get(handle, ("",))[0] != self.checkers[handle].owner:
                self.checkers.pop(handle).stop()
        for handle, (owner, nodes) in assigned.items():
            if handle not in self.checkers:
                self.checkers[handle] = SandboxChecker(self, handle, owner, nodes)
                self.checkers[handle].start()

    async def listen(self, layer, channel: str) -> None:
        """The pages' requests. When the channel layer goes away (Redis
        restarting, which forgets its groups too), join again once it is
        back; the check loops go on meanwhile."""
        keeper = asyncio.get_running_loop().create_task(self.stay_joined(layer, channel))
        try:
            await self._listen(layer, channel)
        finally:
            keeper.cancel()

    async def stay_joined(self, layer, channel: str) -> None:
        """Join the group again every REJOIN_EVERY seconds: a Redis that
        restarted between two receives forgets the group without the receive
        ever failing (the client reconnects by itself)."""
        while True:
            await asyncio.sleep(REJOIN_EVERY)
            with contextlib.suppress(Exception):
                await layer.group_add(GROUP, channel)

    async def _listen(self, layer, channel: str) -> None:
        delay = 0.25
        while True:
            try:
                await layer.group_add(GROUP, channel)
                delay = 0.25
                while True:
                    message = await layer.receive(channel)
                    if message.get("type") == "check.request":
                        await self.requested(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the channel layer's own errors (Redis's)
                log.warning("checker: channel layer: %s; joining again in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def requested(self, message: dict) -> None:
        owner = message.get("owner", "")
        checker = next((c for c in self.checkers.values() if c.owner == owner), None)
        if checker is None:
            await self.refresh()  # a sandbox handed out a moment ago
            checker = next((c for c in self.checkers.values() if c.owner == owner), None)
        if checker is not None:
            exercise = message.get("exercise")
            checker.trigger((message.get("course", ""), exercise) if exercise else None)

    async def publish(self, owner: str, report: dict) -> None:
        """Tell the learner's pages and their room. The rows are written
        already: with the channel layer down, a page or a dashboard that
        reconnects reads them instead."""
        try:
            await get_channel_layer().group_send(rooms.learner_group(owner), {
                "type": "progress.update", "course": report["course"], "exercises": report["exercises"],
                "asked": report["asked"]})
            if report["exercises"]:
                await rooms.report(report["room"], owner, "progress",
                                   exercises={eid: info["status"] for eid, info in report["exercises"].items()})
        except Exception as exc:  # the channel layer's own errors (Redis's)
            log.warning("checker: could not tell %s's pages: %s", owner, exc)

    @database_sync_to_async
    def rooms_of(self, owner: str) -> list[str]:
        return [r for r in CheckScope.objects.filter(owner=owner).values_list("room", flat=True) if r]


async def ask(owner: str, course: str, exercise: str | None = None) -> None:
    """A page asks for a round now (Check, or it moved to another section)."""
    await get_channel_layer().group_send(GROUP, {"type": "check.request", "owner": owner, "course": course,
                                                 "exercise": exercise})


_embedded: asyncio.Task | None = None


def start_embedded() -> None:
    """Run the worker in this process (the embedded set-up: no channel layer
    across processes, so no `checkerd`). Idempotent."""
    global _embedded
    if _embedded is None or _embedded.done():
        _embedded = asyncio.get_running_loop().create_task(Worker(threads=4).serve())


def embedded() -> bool:
    """Whether the channel layer stays inside this process: then no
    `checkerd` can hear the pages, and the web process checks."""
    from channels.layers import InMemoryChannelLayer

    return isinstance(get_channel_layer(), InMemoryChannelLayer)
