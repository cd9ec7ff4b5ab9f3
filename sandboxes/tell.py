"""What the pool keeper tells a learner's open pages (their owner group,
which the progress socket of each page listens to)."""
from __future__ import annotations

from channels.layers import get_channel_layer

from sandboxes.models import Sandbox
from sandboxes.owners import owner_group


async def assigned(owner: str) -> None:
    """Their sandbox is ready: the page's checks follow it from now."""
    await get_channel_layer().group_send(owner_group(owner), {"type": "sandbox.assigned"})


async def lost(sandbox: Sandbox) -> None:
    """It stopped for good: the page says why and offers a new one."""
    if sandbox.owner:
        await get_channel_layer().group_send(owner_group(sandbox.owner), {
            "type": "room.message", "kind": "lost",
            "message": f"Your sandbox has stopped: {sandbox.reason}. Your progress is kept."})
