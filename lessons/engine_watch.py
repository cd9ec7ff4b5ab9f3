"""Following the engine inside one sandbox: its events start check rounds,
and the containers that ran and were removed are remembered.

`docker run --rm busybox echo hello world` proves the first exercise, yet the
container is gone before a check round can look at it. The watch sees it
created (and reads its configuration then), sees it die (its exit code, and
its output, read at once), and keeps it as a departed container that the
probe adds to the live ones: shaped like `docker inspect`, with
"Departed": true and its output under "LabdeckLogs".
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from lessons.probe import PROBE_LABEL
from sandboxes.backends import BackendUnavailable, SandboxError
from sandboxes.dockerstream import Demux
from sandboxes.inner import AsyncInnerEngine, InnerEngineError, events

log = logging.getLogger(__name__)

# Departed containers kept per sandbox, and the output kept of each.
KEEP_DEPARTED = 100
KEEP_OUTPUT = 64 * 1024
# Attached containers whose output is followed at once (each holds a relay in
# the sandbox), the bytes read of each (only the last KEEP_OUTPUT are kept,
# as they come), and for how long.
MAX_CAPTURES = 4
CAPTURE_LIMIT = 64 << 20
CAPTURE_FOR = 3600
# A frame of Docker's multiplexed stream is one write of the container
# (32 KiB at most from the engine's copier); a longer one is not an answer.
FRAME_LIMIT = 1 << 20
# After a container dies, how long its capture may go on.
LATE_ATTACH = 1.0
RETRY_AFTER = 2.0


class EngineWatch:
    def __init__(self, handle: str, on_event: Callable[[dict], None]):
        self.handle, self.on_event = handle, on_event
        self.seen: dict[str, dict] = {}
        self.departed: OrderedDict[str, dict] = OrderedDict()
        self.captures: dict[str, asyncio.Task] = {}
        self.tails: dict[str, _Tail] = {}  # what each capture has read so far
        self.next_spare: AsyncInnerEngine | None = None
        self.spare_opening: asyncio.Task | None = None
        self.following = False  # the engine is sending its events

    def departed_list(self) -> list[dict]:
        return list(self.departed.values())

    async def run(self) -> None:
        """Follow the events until cancelled, reconnecting when the stream ends."""
        while True:
            api = AsyncInnerEngine(self.handle)
            try:
                await api.open()
                self._open_spare()
                async for event in events(self.handle, {"filters": '{"type":["container","image","network",'
                                                                   '"volume"]}'}, self._opened):
                    if event.get("Type") == "container":
                        await self._note(api, event)
                    self.on_event(event)
            except (BackendUnavailable, SandboxError, InnerEngineError, OSError, TimeoutError) as exc:
                log.debug("engine watch of %s: %s", self.handle, exc)
            finally:
                self.following = False
                for capture in self.captures.values():
                    capture.cancel()
                self.captures.clear()
                self.tails.clear()
                if self.next_spare is not None:
                    await self.next_spare.close()
                    self.next_spare = None
                await api.close()
            await asyncio.sleep(RETRY_AFTER)

    def _opened(self) -> None:
        """The events flow (again): whatever changed while they did not
        (the engine restarting, a relay lost) gets a round now."""
        self.following = True
        self.on_event({"Type": "labdeck", "Action": "following"})

    async def _note(self, api: AsyncInnerEngine, event: dict) -> None:
        cid, action = event.get("id", ""), event.get("Action", "")
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        if not cid or PROBE_LABEL in attributes:
            return  # the probe's own scratch containers prove nothing
        try:
            if action == "create" or (action in ("kill", "die") and cid not in self.seen):
                # A container that was there before the watch began is
                # learned of when it is stopped (kill comes before die).
                await self._learn(api, cid)
                if cid not in self.seen and action != "create":
                    # Removed already (`--rm`, on a busy host): what the event says must do.
                    self.seen[cid] = _from_event(cid, attributes, event.get("timeNano", 0))
            if action == "start" and cid in self.seen:
                self.seen[cid].setdefault("State", {}).update(Running=True, Status="running",
                                                               StartedAt=_stamp(event.get("timeNano", 0)))
            elif action == "die":
                self._died(cid, attributes, event.get("timeNano", 0))
                capture = self.captures.get(cid)
                if capture is not None:
                    # An attach that came too late would hold the container back from removal.
                    asyncio.get_running_loop().call_later(LATE_ATTACH, capture.cancel)
            elif action == "destroy":
                self._destroyed(cid)
        except (InnerEngineError, TimeoutError) as exc:
            log.debug("engine watch of %s: %s %s: %s", self.handle, action, cid[:12], exc)

    async def _learn(self, api: AsyncInnerEngine, cid: str) -> None:
        inspected = await api.call("GET", f"/containers/{cid}/json", missing_ok=True)
        if not isinstance(inspected, dict):
            return
        self.seen[cid] = inspected
        attached = (inspected.get("Config") or {}).get("AttachStdout")
        removed = (inspected.get("HostConfig") or {}).get("AutoRemove")
        if (attached or removed) and len(self.captures) < MAX_CAPTURES:
            # Its output, which `docker run --rm` (attached or -d) leaves nowhere to read later.
            self.captures[cid] = asyncio.create_task(self._capture(cid, inspected))

    def _open_spare(self) -> None:
        self.next_spare = AsyncInnerEngine(self.handle, timeout=CAPTURE_FOR)
        self.spare_opening = asyncio.create_task(self.next_spare.open())

    async def _spare(self) -> AsyncInnerEngine:
        """A connection opened ahead of time: a short container is over in a
        few tens of milliseconds, less than it takes to start a relay."""
        if self.next_spare is None:
            self._open_spare()
        spare, opening = self.next_spare, self.spare_opening
        self._open_spare()
        await opening
        return spare

    async def _capture(self, cid: str, inspected: dict) -> None:
        """What an attached container prints, from its start to its end,
        into its tail (self.tails): the last KEEP_OUTPUT bytes of it."""
        tail = self.tails[cid] = _Tail(bool((inspected.get("Config") or {}).get("Tty")))
        api = await self._spare()
        try:
            await api.call("POST", f"/containers/{cid}/attach", raw=True, limit=CAPTURE_LIMIT, sink=tail.feed,
                           params={"logs": "1", "stream": "1", "stdout": "1", "stderr": "1"})
        except (InnerEngineError, TimeoutError, BackendUnavailable, SandboxError) as exc:
            log.debug("engine watch of %s: output of %s: %s", self.handle, cid[:12], exc)
        finally:
            await api.close()

    def _died(self, cid: str, attributes: dict, nanoseconds: int) -> None:
        record = self.seen.get(cid)
        if record is None:
            return
        state = record.setdefault("State", {})
        state.update(Running=False, Status="exited", FinishedAt=_stamp(nanoseconds))
        if str(attributes.get("exitCode", "")).lstrip("-").isdigit():
            state["ExitCode"] = int(attributes["exitCode"])

    def _destroyed(self, cid: str) -> None:
        record = self.seen.pop(cid, None)
        capture = self.captures.pop(cid, None)
        if record is None or record["State"].get("FinishedAt", "").startswith("0001"):
            if capture:
                capture.cancel()
            self.tails.pop(cid, None)
            return  # removed without having run: nothing it proves
        if capture is None:
            self._depart(cid, record)
        else:  # its output comes in a moment: the events must not wait for it
            capture.add_done_callback(lambda done: self._depart(cid, record, done))

    def _depart(self, cid: str, record: dict, capture: asyncio.Task | None = None) -> None:
        tail = self.tails.pop(cid, None)
        finished = capture is not None and not capture.cancelled() and capture.exception() is None
        if tail is not None and (finished or tail.kept):  # cut short, it still printed this
            record["LabdeckLogs"] = tail.text()
        record["Departed"] = True
        self.departed[cid] = record
        while len(self.departed) > KEEP_DEPARTED:
            self.departed.popitem(last=False)


class _Tail:
    """The last KEEP_OUTPUT bytes of a container's output, kept as it is
    read: a learner's `yes` costs the watch 64 KiB, not what it prints."""

    def __init__(self, tty: bool):
        self.tty, self.demux, self.kept = tty, Demux(), bytearray()

    def feed(self, data: bytes) -> None:
        if self.tty:
            self.kept += data
        else:
            for _stream, payload in self.demux.feed(data):
                self.kept += payload
            if len(self.demux.buffer) > FRAME_LIMIT:
                raise InnerEngineError(f"a frame of the output is over {FRAME_LIMIT} bytes")
        del self.kept[:-KEEP_OUTPUT]

    def text(self) -> str:
        return self.kept.decode("utf-8", "replace")


# Attributes of a container event that are not the container's labels.
EVENT_ATTRIBUTES = {"image", "name", "exitCode", "signal", "execID", "execDuration"}


def _from_event(cid: str, attributes: dict, nanoseconds: int) -> dict:
    """A record shaped like an inspect, from what a kill or die event tells of
    a container that can no longer be inspected: its image, name and labels,
    and that it ran (it is being stopped)."""
    return {
        "Id": cid, "Name": "/" + attributes.get("name", ""), "Image": "", "Path": "", "Args": [], "Mounts": [],
        "Config": {"Image": attributes.get("image", ""),
                   "Labels": {k: v for k, v in attributes.items() if k not in EVENT_ATTRIBUTES}},
        "HostConfig": {},
        "State": {"Running": True, "Status": "running", "StartedAt": _stamp(nanoseconds)},
    }


def _stamp(nanoseconds: int) -> str:
    """An event's time as Docker writes times in an inspect."""
    return datetime.fromtimestamp(nanoseconds / 1e9, UTC).isoformat().replace("+00:00", "Z")
