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
import copy
import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

from lessons.probe import PROBE_LABEL
from sandboxes.backends import BackendUnavailable, SandboxError
from sandboxes.dockerstream import join
from sandboxes.inner import AsyncInnerEngine, InnerEngineError, events

log = logging.getLogger(__name__)

# Departed containers kept per sandbox, and the output kept of each.
KEEP_DEPARTED = 100
KEEP_OUTPUT = 64 * 1024
RETRY_AFTER = 2.0


class EngineWatch:
    def __init__(self, handle: str, on_event: Callable[[dict], None]):
        self.handle, self.on_event = handle, on_event
        self.seen: dict[str, dict] = {}
        self.departed: OrderedDict[str, dict] = OrderedDict()

    def departed_list(self) -> list[dict]:
        return list(self.departed.values())

    async def run(self) -> None:
        """Follow the events until cancelled, reconnecting when the stream ends."""
        while True:
            api = AsyncInnerEngine(self.handle)
            try:
                async for event in events(self.handle, {"filters": '{"type":["container","image","network",'
                                                                   '"volume"]}'}):
                    if event.get("Type") == "container":
                        await self._note(api, event)
                    self.on_event(event)
            except (BackendUnavailable, SandboxError, InnerEngineError, OSError, TimeoutError) as exc:
                log.debug("engine watch of %s: %s", self.handle, exc)
            finally:
                await api.close()
            await asyncio.sleep(RETRY_AFTER)

    async def _note(self, api: AsyncInnerEngine, event: dict) -> None:
        cid, action = event.get("id", ""), event.get("Action", "")
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        if not cid or PROBE_LABEL in attributes:
            return  # the probe's own scratch containers prove nothing
        try:
            if action == "create":
                inspected = await api.call("GET", f"/containers/{cid}/json", missing_ok=True)
                if isinstance(inspected, dict):
                    self.seen[cid] = inspected
            elif action == "die":
                await self._died(api, cid, event)
            elif action == "destroy":
                record = self.seen.pop(cid, None)
                if record is not None and record["State"].get("FinishedAt", "").startswith("0001"):
                    return  # removed without having run: nothing it proves
                if record is not None:
                    record["Departed"] = True
                    self.departed[cid] = record
                    while len(self.departed) > KEEP_DEPARTED:
                        self.departed.popitem(last=False)
        except (InnerEngineError, TimeoutError) as exc:
            log.debug("engine watch of %s: %s %s: %s", self.handle, action, cid[:12], exc)

    async def _died(self, api: AsyncInnerEngine, cid: str, event: dict) -> None:
        """Read the final state and the output while the container exists."""
        inspected = await api.call("GET", f"/containers/{cid}/json", missing_ok=True)
        record = copy.deepcopy(inspected if isinstance(inspected, dict) else self.seen.get(cid))
        if record is None:
            return
        raw = await api.call("GET", f"/containers/{cid}/logs", missing_ok=True, raw=True, limit=1 << 20,
                             params={"stdout": "1", "stderr": "1", "tail": "2000"})
        if raw is not None:
            tty = (record.get("Config") or {}).get("Tty")
            record["LabdeckLogs"] = (raw if tty else join(raw))[-KEEP_OUTPUT:].decode("utf-8", "replace")
        state = record.setdefault("State", {})
        if state.get("Running", True):
            attributes = (event.get("Actor") or {}).get("Attributes") or {}
            stamp = datetime.fromtimestamp(event.get("timeNano", 0) / 1e9, UTC).isoformat()
            state.update(Running=False, Status="exited", FinishedAt=stamp.replace("+00:00", "Z"))
            if str(attributes.get("exitCode", "")).lstrip("-").isdigit():
                state["ExitCode"] = int(attributes["exitCode"])
        self.seen[cid] = record
