"""Forget a workshop learner whom the instructor removed."""
from __future__ import annotations

from labdeck.models import Learner
from lessons.rooms import SECTIONS_KEY
from sandboxes.owners import POOL_KEY, ROOM_KEY, SESSION_KEY

LEARNER_KEY = "labdeck_learner"


def removed_learners(get_response):
    """A removed learner's session loses the workshop, its sandbox and
    progress key: they are back to an anonymous visitor."""

    def middleware(request):
        learner_id = request.session.get(LEARNER_KEY)
        if learner_id and Learner.objects.filter(pk=learner_id, removed_at__isnull=False).exists():
            for key in (LEARNER_KEY, SESSION_KEY, POOL_KEY, ROOM_KEY, SECTIONS_KEY):
                request.session.pop(key, None)
        return get_response(request)

    return middleware
