"""Whether the pages show the ports bar beside the terminal."""
from django.http import HttpRequest

from previews import hosts


def previews(request: HttpRequest) -> dict:
    return {"previews_on": hosts.enabled()}
