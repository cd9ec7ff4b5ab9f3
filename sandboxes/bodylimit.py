"""ASGI middleware: an upload's body stops at the cap before Django holds it.

Django's ASGI handler reads the whole request body (into a temporary file
past FILE_UPLOAD_MAX_MEMORY_SIZE) before any view runs, so a view's own
check would come after an unbounded read. This sits in front of it, for the
files endpoint only: a body that declares more than LABDECK_UPLOAD_LIMIT is
refused before Django reads any of it, and one that sends more than it
declared (or declares nothing, chunked) is cut off at the cap.
"""
from __future__ import annotations

import json

from sandboxes.files import too_large

UPLOAD_PATH = "/sandbox/files"


class _TooLarge(Exception):
    pass


def limit_uploads(app, limit: int):
    """``app`` with request bodies to UPLOAD_PATH of at most ``limit`` bytes."""

    async def refuse(send) -> None:
        body = json.dumps({"state": "refused", "message": too_large("That file", limit)}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def bounded(scope, receive, send):
        if scope["type"] != "http" or scope["path"] != UPLOAD_PATH:
            return await app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await refuse(send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
            return message

        try:
            await app(scope, counted, send)
        except _TooLarge:
            await refuse(send)

    return bounded
