"""Rooms: the channel-layer groups that join learners' pages to a classroom.

A learner whose session names a room (the classroom sets it when they join a
workshop) reports to the room's staff group what an instructor's dashboard
shows: presence and slide, progress, the commands they run. The dashboard
speaks back to the whole room (broadcast, lead the slides, workshop ended)
or to one learner's group (reset, removed, roll call).

Only group names and event shapes live here, so that the lessons app knows
nothing of workshops and the classroom nothing of the player's internals.
"""
from __future__ import annotations

from channels.layers import get_channel_layer
from django.utils import timezone

from sandboxes.owners import owner_group

# The sections a workshop teaches: {"course": slug, "sections": [ids]}.
SECTIONS_KEY = "labdeck_sections"


def sections(session, course: str) -> set[str] | None:
    """The sections of `course` the learner's workshop teaches (None: all)."""
    chosen = session.get(SECTIONS_KEY) or {}
    return set(chosen["sections"]) if chosen.get("course") == course and chosen.get("sections") else None


def staff_group(room: str) -> str:
    return f"{room}.staff"


def learner_group(owner: str) -> str:
    return owner_group(owner)


async def report(room: str, owner: str, kind: str, **data) -> None:
    """Tell the room's dashboards something about one learner.

    The event's "type" routes it to DashboardConsumer.room_event.
    """
    if not room:
        return
    layer = get_channel_layer()
    await layer.group_send(staff_group(room), {
        "type": "room.event", "owner": owner, "kind": kind, "at": timezone.now().isoformat(), **data,
    })


async def tell_room(room: str, kind: str, **data) -> None:
    """Something for every learner of the room (ProgressConsumer.room_message)."""
    await get_channel_layer().group_send(room, {"type": "room.message", "kind": kind, **data})


async def tell_learner(owner: str, kind: str, **data) -> None:
    """Something for one learner's open pages (ProgressConsumer.room_message)."""
    await get_channel_layer().group_send(learner_group(owner), {"type": "room.message", "kind": kind, **data})
