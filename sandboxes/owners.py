"""Who owns sandboxes: a key kept in the learner's Django session.

Anonymous learners get a random key on first visit; the classroom can later
put a learner's id there instead. Views and the terminal consumer both ask
here, so ownership is decided in one place.
"""
from __future__ import annotations

import secrets

SESSION_KEY = "labdeck_owner"
# The pool (sandboxes.models.Sandbox.group) the learner's sandbox comes from,
# and the room (channel-layer group) their live events go to: the classroom
# sets both when a learner joins a workshop.
POOL_KEY = "labdeck_pool"
ROOM_KEY = "labdeck_room"


def owner_key(session, create: bool = True) -> str:
    key = session.get(SESSION_KEY, "")
    if not key and create:
        key = session[SESSION_KEY] = secrets.token_urlsafe(16)
    return key


def owner_group(owner: str) -> str:
    """The channel-layer group of one owner's open pages."""
    return f"owner.{owner}"


def pool_group(session) -> str:
    return session.get(POOL_KEY, "")


def room(session) -> str:
    return session.get(ROOM_KEY, "")
