"""Test helpers for the classroom: instructors, workshops, joined learners
and the dashboard's websocket, all spoken to over HTTP and websockets."""
from __future__ import annotations

import json
import re
import time

import requests
from websockets.sync.client import connect

from tests.support import Learner, LiveServer


def make_user(server: LiveServer, username: str, staff: bool = True, see_all: bool = False) -> str:
    """Create an instructor (a staff user) in the live server's database;
    returns the password."""
    password = f"pw-{username}-1234"
    server.manage("shell", "-c", (
        "from django.contrib.auth.models import Permission, User\n"
        f"u = User.objects.create_user({username!r}, password={password!r}, is_staff={staff})\n"
        "u.user_permissions.add(*Permission.objects.filter(codename__in=['add_workshop', 'view_workshop']))\n"
        + ("u.user_permissions.add(Permission.objects.get(codename='view_all_workshops'))\n" if see_all else "")
    ))
    return password


def ws_url(server: LiveServer, path: str) -> str:
    return server.url.replace("http", "ws") + path


def cookie_header(http: requests.Session) -> str:
    return "; ".join(f"{k}={v}" for k, v in http.cookies.get_dict().items())


class Instructor:
    """A staff user logged in through the admin's login form."""

    def __init__(self, server: LiveServer, username: str, see_all: bool = False):
        self.server = server
        password = make_user(server, username, see_all=see_all)
        self.http = requests.Session()
        self.http.get(server.url + "/admin/login/")
        response = self.http.post(server.url + "/admin/login/", data={
            "username": username, "password": password, "next": "/workshops/",
            "csrfmiddlewaretoken": self.http.cookies["csrftoken"]})
        assert response.url.endswith("/workshops/"), response.url

    def create_workshop(self, **fields) -> str:
        """Fill in the workshop form; returns the join code."""
        data = {"title": "Containers workshop", "course": "intro", "expected_attendees": "3", "reserved": "1",
                "capacity": "10", "starts_at": time.strftime("%Y-%m-%dT%H:%M", time.gmtime()), "open": "on",
                "csrfmiddlewaretoken": self.http.cookies["csrftoken"]}
        data.update({k: v if isinstance(v, list) else str(v) for k, v in fields.items()})
        response = self.http.post(self.server.url + "/workshops/new/", data=data)
        match = re.search(r"/workshops/([A-Z0-9]+)/$", response.url)
        assert match, response.text[:2000]
        return match.group(1)

    def dashboard(self, code: str) -> Dashboard:
        return Dashboard(self.server, code, self.http)


class Dashboard:
    """The dashboard's websocket: the snapshot, then batched updates."""

    def __init__(self, server: LiveServer, code: str, http: requests.Session):
        self.ws = connect(ws_url(server, f"/ws/workshops/{code}/"), origin=server.url,  # noqa: SIM115
                          additional_headers={"Cookie": cookie_header(http)}, legacy=True)
        self.snapshot: dict = {}
        self.items: list[dict] = []
        self.messages: list[dict] = []
        self.closed_code: int | None = None
        first = self.next(10)
        if first and first["type"] == "snapshot":
            self.snapshot = first
        elif first and first["type"] == "error":
            self.next(5)  # the close that follows

    def next(self, timeout: float) -> dict | None:
        try:
            message = json.loads(self.ws.recv(timeout=timeout))
        except TimeoutError:
            return None
        except Exception:  # closed: remember why
            self.closed_code = self.ws.close_code
            return None
        self.messages.append(message)
        if message["type"] == "updates":
            self.items += message["items"]
        return message

    def send(self, **message) -> None:
        self.ws.send(json.dumps(message))

    def wait_for(self, predicate, timeout: float = 20, what: str = "") -> dict:
        """Wait for an update item (or message) for which predicate holds."""
        deadline = time.monotonic() + timeout
        while True:
            for item in self.items + [m for m in self.messages if m["type"] != "updates"]:
                if predicate(item):
                    return item
            left = deadline - time.monotonic()
            if left <= 0 or self.closed_code is not None:
                raise AssertionError(f"not seen: {what}; last messages: {self.messages[-5:]}")
            self.next(min(left, 1))

    def close(self) -> None:
        self.ws.close()


class Attendee(Learner):
    """A learner who joined a workshop with its code and a display name."""

    def __init__(self, server: LiveServer, code: str, name: str):
        super().__init__(server)
        self.http.get(server.url + "/join/")
        self.join_response = self.http.post(server.url + "/join/", data={
            "code": code, "name": name, "csrfmiddlewaretoken": self.http.cookies.get("csrftoken", "")})


def learner_id(dashboard: Dashboard, name: str) -> int:
    item = dashboard.wait_for(lambda i: i.get("kind") == "learner" and i["learner"]["name"] == name,
                              what=f"{name} on the dashboard")
    return item["learner"]["id"]


def wait_json(ws, predicate, timeout: float = 20) -> dict:
    """Read JSON messages from a websocket until one matches."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no matching message")
        try:
            message = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            continue
        if predicate(message):
            return message
