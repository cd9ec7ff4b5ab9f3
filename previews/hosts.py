"""Where a preview lives: an origin of its own for each sandbox and port.

A preview is http(s)://PORT-SANDBOX.LABDECK_PREVIEW_HOST/ (SANDBOX: the
sandbox's public id in hex). A subdomain label rather than a path prefix,
because then each preview is an origin of its own: the pages of one learner's
app can neither script nor read another preview, nor the site; its cookies
are its own; and the app is served at `/`, as `curl localhost:PORT` in the
sandbox sees it, so that its absolute links work. The price is a wildcard
DNS name (and certificate) for the preview host; browsers resolve
`*.localhost` to loopback by themselves, which `make run` uses.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.conf import settings

_LABEL = re.compile(r"([1-9][0-9]{0,4})-([0-9a-f]{32})")


@dataclass(frozen=True)
class Preview:
    sandbox: uuid.UUID
    port: int

    @property
    def label(self) -> str:
        return f"{self.port}-{self.sandbox.hex}"

    def origin(self, secure: bool) -> str:
        return f"{'https' if secure else 'http'}://{self.label}.{settings.LABDECK_PREVIEW_HOST}"


def enabled() -> bool:
    return bool(settings.LABDECK_PREVIEW_HOST)


def valid_port(port: int) -> bool:
    return 0 < port < 65536


def _hostname(host: str) -> str:
    """A Host header or host[:port] setting without its port."""
    host = host.strip().lower()
    return host.rpartition(":")[0] if ":" in host and not host.endswith("]") else host


def from_host(host: str) -> Preview | None:
    """The preview a Host header names, or None: then the request is the site's."""
    if not enabled():
        return None
    label, _, rest = _hostname(host).partition(".")
    match = _LABEL.fullmatch(label)
    if rest != _hostname(settings.LABDECK_PREVIEW_HOST) or not match or not valid_port(int(match[1])):
        return None
    return Preview(uuid.UUID(match[2]), int(match[1]))
