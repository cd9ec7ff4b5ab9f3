"""Error pages that say what happened in words a learner can act on.

While the database is restarting, every request fails on its first query;
that is an outage of a moment, not a bug: it gets a 503 "try again in a
moment" (JSON for the pages' own calls), never a traceback. Everything
else is Django's plain 500 page.
"""
from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults

MESSAGE = "Labdeck's database is not answering right now. Try again in a moment: nothing you did is lost."
RETRY_AFTER = 5


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: Django calls it while handling the uncaught exception."""
    exc = sys.exc_info()[1]
    if not isinstance(exc, OperationalError | InterfaceError):
        return defaults.server_error(request)
    if request.path.startswith("/sandbox/") or "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse({"state": "retrying", "message": MESSAGE, "retrying": True}, status=503)
    else:
        # No request context: its processors (the user) would ask the database again.
        response = HttpResponse(render_to_string("unavailable.html", {"message": MESSAGE}), status=503)
    response["Retry-After"] = str(RETRY_AFTER)
    return response
