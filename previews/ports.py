"""The ports that a learner's containers publish, followed live.

Read from the inner engine's API through the relay (sandboxes.inner), never
from a program of the sandbox: the container list, bounded in bytes, looked
at again when the engine reports a container starting, dying, going or
being renamed (and every REFRESH seconds besides, should an event be lost).
What the engine says is the learner's, so it is checked and cut to size.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass

from sandboxes.backends import BackendUnavailable, SandboxError
from sandboxes.inner import AsyncInnerEngine, InnerEngineError, events

log = logging.getLogger(__name__)

LIST_LIMIT = 1 << 20
MAX_PORTS = 32
MAX_NAME = 64
REFRESH = 30.0
# Events come in bursts (a `docker run` creates, attaches, starts): one look after them.
SETTLE = 0.2
RETRY_AFTER, RETRY_MAX = 2.0, 30.0
FILTERS = json.dumps({"type": ["container"], "event": ["start", "die", "destroy", "rename", "pause", "unpause"]})
# Where a published port must listen for 127.0.0.1 in the sandbox to reach it.
REACHABLE = {"0.0.0.0", "::", "127.0.0.1", ""}


@dataclass(frozen=True, order=True)
class Published:
    port: int
    private: int
    container: str
    image: str

    def to_dict(self) -> dict:
        return asdict(self)


def published(containers: object) -> list[Published]:
    """The TCP ports of `GET /containers/json`, one entry per sandbox port."""
    found: dict[int, Published] = {}
    for container in containers if isinstance(containers, list) else []:
        if not isinstance(container, dict):
            continue
        names = container.get("Names")
        name = str(names[0] if isinstance(names, list) and names else "").lstrip("/")[:MAX_NAME]
        image = str(container.get("Image") or "")[:MAX_NAME]
        for port in container.get("Ports") or []:
            if not isinstance(port, dict) or port.get("Type") != "tcp" or port.get("IP", "") not in REACHABLE:
                continue
            public, private = port.get("PublicPort"), port.get("PrivatePort")
            if isinstance(public, int) and 0 < public < 65536 and public not in found:
                found[public] = Published(public, private if isinstance(private, int) else 0, name, image)
    return sorted(found.values())[:MAX_PORTS]


async def _watch(handle: str, changed: asyncio.Event) -> None:
    """Set `changed` when the stream opens and at each event, until it ends."""
    async for _event in events(handle, {"filters": FILTERS}, changed.set):
        changed.set()


async def follow(handle: str) -> AsyncIterator[list[Published]]:
    """The published ports now, then each time they change, until cancelled."""
    last: list[Published] | None = None
    retry = RETRY_AFTER
    while True:
        changed = asyncio.Event()
        changed.set()  # look at once, before the events flow
        watcher = asyncio.ensure_future(_watch(handle, changed))
        api = AsyncInnerEngine(handle)
        try:
            while not watcher.done():
                waiting = asyncio.ensure_future(changed.wait())
                await asyncio.wait([waiting, watcher], timeout=REFRESH, return_when=asyncio.FIRST_COMPLETED)
                waiting.cancel()
                await asyncio.sleep(SETTLE)
                changed.clear()
                now = published(await api.call("GET", "/containers/json", limit=LIST_LIMIT))
                retry = RETRY_AFTER
                if now != last:
                    last = now
                    yield now
            watcher.result()
        except (BackendUnavailable, SandboxError, InnerEngineError, OSError, TimeoutError) as exc:
            log.debug("ports of %s: %s", handle, exc)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await api.close()
        await asyncio.sleep(retry)
        retry = min(retry * 2, RETRY_MAX)
