"""Helpers of the preview tests: an app in a learner's sandbox, and a client
for the preview origins.

Python's resolver knows no `*.localhost` (Chromium resolves it to loopback by
itself), so the client connects to 127.0.0.1 and names the preview in the
Host header, as a browser would.
"""
from __future__ import annotations

import socket
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlsplit

import requests
from websockets.sync.client import connect

from tests.support import Learner, LiveServer

APP = (Path(__file__).parent / "previewapp.py").read_text()
APP_PORT = 8765


def sandbox_handle(server: LiveServer, public_id: str) -> str:
    return server.manage("shell", "-c", "from sandboxes.models import Sandbox; "
                         f"print(Sandbox.objects.get(public_id='{public_id}').handle)").split()[-1]


def in_sandbox(handle: str, *argv: str, timeout: float = 120) -> str:
    """Run argv in the sandbox, as its learner could; its output."""
    from sandboxes.backends import get_backend

    result = get_backend().exec(handle, list(argv), timeout=timeout)
    assert result.exit_code == 0, result
    return result.output.decode()


def start_app(handle: str, name: str = "app", port: int = APP_PORT) -> None:
    """tests/previewapp.py in a container of the `python` image, published on `port`."""
    in_sandbox(handle, "docker", "run", "-d", "--name", name, "-p", f"{port}:{APP_PORT}",
               "python", "python3", "-c", APP)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        from sandboxes.backends import get_backend

        if get_backend().exec(handle, ["curl", "-sf", f"localhost:{port}/"], timeout=10).exit_code == 0:
            return
        time.sleep(0.3)
    raise AssertionError("the preview test app did not start")


class PreviewClient:
    """Requests to one preview origin, with the cookies it set (if any)."""

    def __init__(self, server: LiveServer, origin: str):
        self.server, self.origin = server, origin.rstrip("/")
        self.host = urlsplit(self.origin).netloc
        self.cookies: dict[str, str] = {}

    def get(self, path: str = "/", cookies: dict[str, str] | None = None, **kwargs) -> requests.Response:
        jar = self.cookies if cookies is None else cookies
        headers = {"Host": self.host, **kwargs.pop("headers", {})}
        if jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        response = requests.get(f"http://127.0.0.1:{self.server.port}{path}", headers=headers,
                                allow_redirects=False, timeout=kwargs.pop("timeout", 30), **kwargs)
        for header in response.raw.headers.getlist("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response

    def enter(self, url: str) -> requests.Response:
        """Follow a ticket or share link of this origin: the cookie, then /."""
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == self.origin, url
        entered = self.get(parts.path)
        assert entered.status_code == 302 and entered.headers["Location"] == "/", entered.text
        return entered

    def websocket(self, path: str = "/ws", origin: str | None = None, cookies: dict[str, str] | None = None):
        jar = self.cookies if cookies is None else cookies
        sock = socket.create_connection(("127.0.0.1", self.server.port))
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else {}
        return connect(f"ws://{self.host}{path}", sock=sock, origin=origin or self.origin,  # noqa: SIM115
                       additional_headers=headers, open_timeout=20)


def open_as_owner(learner: Learner, sandbox: str, port: int) -> PreviewClient:
    """What a click on the port's link does: the site's redirect with a
    one-time ticket, then the preview origin's cookie."""
    answer = learner.http.get(f"{learner.server.url}/previews/{sandbox}/{port}/", allow_redirects=False)
    assert answer.status_code == 302, answer.text
    parts = urlsplit(answer.headers["Location"])
    client = PreviewClient(learner.server, f"{parts.scheme}://{parts.netloc}")
    client.ticket_url = answer.headers["Location"]
    client.enter(client.ticket_url)
    return client


def preview_origin(server: LiveServer, sandbox: str, port: int) -> str:
    return f"http://{port}-{sandbox.replace('-', '')}.localhost:{server.port}"
