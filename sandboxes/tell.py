"""What a learner's open pages and the dashboards of their pool are told
about their sandbox: it is ready, it stopped and why, it came back.

The pool keeper decides (it stops and revives sandboxes) but may have no
way to reach the pages: in the embedded layout its channel layer is its
own. So it writes a notice on the sandbox's row (note), and the checker
worker, which runs where the pages can be reached (in the web process, or
as `checkerd` beside Redis), delivers it and clears it. A notice that
cannot be delivered (Redis restarting) stays until it can.
"""
from __future__ import annotations

from channels.layers import get_channel_layer

from sandboxes.models import Sandbox
from sandboxes.owners import owner_group

LOST = "lost"  # it stopped for good, without the learner or an instructor asking
REVIVED = "revived"  # its host restarted, and it was started again on its disk

REVIVED_MESSAGE = ("Your sandbox's host restarted and your sandbox is back: your files, images, volumes and "
                   "containers are kept, but the programs that were running were stopped.")


def pool_watch_group(group: str) -> str:
    """The dashboards that show the sandboxes of one pool (a workshop's)."""
    return f"pool.{group}"


def note(sandbox: Sandbox, kind: str) -> None:
    """Leave a notice for the learner's pages (LOST or REVIVED)."""
    if sandbox.owner:
        Sandbox.objects.filter(pk=sandbox.pk).update(notice=kind)


def waiting(shard: int = 0, shards: int = 1) -> list[Sandbox]:
    """The sandboxes of a worker's shard with a notice to deliver."""
    return [s for s in Sandbox.objects.exclude(notice="") if s.pk % shards == shard]


def delivered(sandbox: Sandbox) -> None:
    """The notice was sent: clear it, unless a newer one came meanwhile."""
    Sandbox.objects.filter(pk=sandbox.pk, notice=sandbox.notice).update(notice="")


def message(sandbox: Sandbox) -> str:
    if sandbox.notice == REVIVED:
        return REVIVED_MESSAGE
    return f"Your sandbox stopped because {sandbox.reason or 'of a fault on its host'}. Your progress is kept."


async def deliver(sandbox: Sandbox) -> None:
    """Tell the learner's pages and their pool's dashboards. Raises the
    channel layer's error if it is down (the notice then stays)."""
    layer = get_channel_layer()
    await layer.group_send(owner_group(sandbox.owner), {
        "type": "room.message", "kind": sandbox.notice, "message": message(sandbox)})
    if sandbox.group:
        await layer.group_send(pool_watch_group(sandbox.group), {"type": "sandbox.changed", "owner": sandbox.owner})


async def assigned(owner: str) -> None:
    """Their sandbox is ready: the page's checks follow it from now."""
    await get_channel_layer().group_send(owner_group(owner), {"type": "sandbox.assigned"})
