"""Who owns sandboxes: a key kept in the learner's Django session.

Anonymous learners get a random key on first visit; the classroom can later
put a learner's id there instead. Views and the terminal consumer both ask
here, so ownership is decided in one place.
"""
from __future__ import annotations

import secrets

SESSION_KEY = "labdeck_owner"


def owner_key(session, create: bool = True) -> str:
    key = session.get(SESSION_KEY, "")
    if not key and create:
        key = session[SESSION_KEY] = secrets.token_urlsafe(16)
    return key
