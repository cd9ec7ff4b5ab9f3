"""Labdeck's middleware: forget a workshop learner whom the instructor
removed; name the web process that answered."""
from __future__ import annotations

from django.conf import settings

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


def process_name(get_response):
    """X-Labdeck-Process: which web process served the response. Installed
    only when LABDECK_PROCESS_NAME is set (the production layout names its
    web processes web-0, web-1, ...); it tells a client nothing but that name."""
    name = settings.LABDECK_PROCESS_NAME

    def middleware(request):
        response = get_response(request)
        response["X-Labdeck-Process"] = name
        return response

    return middleware
