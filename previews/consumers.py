"""The ports socket of a learner's page: the ports that the containers of
their sandbox publish, with their preview and share links, live.

The web process that serves the page follows the sandbox's inner engine
(previews.ports) while the page is open; the page only listens.
"""
from __future__ import annotations

import asyncio
import uuid
from collections import Counter

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from previews import access, hosts, ports
from previews.models import PreviewShare
from sandboxes.models import Sandbox
from sandboxes.owners import owner_key

# Ports sockets of one sandbox that one web process follows at once (each
# holds an events stream in the sandbox): a page per tab, not a flood.
MAX_FOLLOWERS = 8
_followers: Counter[str] = Counter()


def shares_group(sandbox_id: uuid.UUID) -> str:
    """The ports sockets of one sandbox, told when its share links change."""
    return f"previews.{sandbox_id.hex}"


@database_sync_to_async
def _owned(public_id: uuid.UUID, owner: str) -> tuple[Sandbox | None, str]:
    return access.owned(public_id, owner)


@database_sync_to_async
def _shares(sandbox: Sandbox) -> dict[int, str]:
    return PreviewShare.live(sandbox)


class PortsConsumer(AsyncJsonWebsocketConsumer):
    sandbox: Sandbox | None = None
    task: asyncio.Task | None = None
    following = ""

    async def connect(self) -> None:
        await self.accept()
        if not hosts.enabled():
            return await self.close(code=4404)
        owner = owner_key(self.scope.get("session") or {}, create=False)
        self.sandbox, problem = await _owned(self.scope["url_route"]["kwargs"]["sandbox_id"], owner)
        if problem:
            await self.send_json({"type": "error", "message": "This sandbox is not yours, or is gone."})
            return await self.close(code=4403 if problem == "forbidden" else 4404)
        if _followers[self.sandbox.handle] >= MAX_FOLLOWERS:
            return await self.close(code=4429)
        self.following = self.sandbox.handle
        _followers[self.following] += 1
        self.secure = self.scope.get("scheme") == "wss"
        self.published: list[ports.Published] = []
        await self.channel_layer.group_add(shares_group(self.sandbox.public_id), self.channel_name)
        self.task = asyncio.get_running_loop().create_task(self.follow())

    async def disconnect(self, code: int) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.following:
            _followers[self.following] -= 1
            if not _followers[self.following]:
                del _followers[self.following]
        if self.sandbox is not None:
            await self.channel_layer.group_discard(shares_group(self.sandbox.public_id), self.channel_name)

    async def follow(self) -> None:
        async for published in ports.follow(self.sandbox.handle):
            self.published = published
            await self.report()

    async def previews_shared(self, event: dict) -> None:
        await self.report()

    async def report(self) -> None:
        shares = await _shares(self.sandbox)
        entries = {p.port: {**p.to_dict(), "published": True} for p in self.published}
        for port in shares.keys() - entries.keys():  # shared, not published now: it can still be revoked
            entries[port] = {"port": port, "private": 0, "container": "", "image": "", "published": False}
        for port, entry in entries.items():
            preview = hosts.Preview(self.sandbox.public_id, port)
            entry["url"] = f"/previews/{self.sandbox.public_id}/{port}/"
            entry["share_url"] = access.share_url(preview, shares[port], self.secure) if port in shares else None
        await self.send_json({"type": "ports", "ports": [entries[p] for p in sorted(entries)]})
