"""Previews through Labdeck's proxy, below the browser: who may open one,
what reaches the learner's app and what comes back, the budgets, share
links, the ports socket, and the site's websocket origins.

One live server with small budgets, one learner whose sandbox runs
tests/previewapp.py (published on 8765), and another learner.
"""
import json
import threading
import time

import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.previews import (
    APP_PORT,
    PreviewClient,
    in_sandbox,
    open_as_owner,
    preview_origin,
    sandbox_handle,
    start_app,
)
from tests.support import Learner, LiveServer, TerminalClient

CONNECTIONS, BUDGET_MIB, SECONDS = 3, 4, 8


@pytest.fixture(scope="module")
def live():
    server = LiveServer(LABDECK_PREVIEW_CONNECTIONS=str(CONNECTIONS), LABDECK_PREVIEW_BYTES=str(BUDGET_MIB << 20),
                        LABDECK_PREVIEW_SECONDS=str(SECONDS))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def owner(live):
    learner = Learner(live)
    learner.info = learner.start()
    assert learner.info["state"] == "ready", learner.info
    learner.sandbox = learner.info["sandbox"]
    learner.handle = sandbox_handle(live, learner.sandbox)
    start_app(learner.handle)
    return learner


@pytest.fixture(scope="module")
def app(owner):
    """The owner's own client of the app's preview."""
    return open_as_owner(owner, owner.sandbox, APP_PORT)


def test_it_opens_the_owners_preview_through_a_one_time_redirect(live, owner, app):
    assert app.origin == preview_origin(live, owner.sandbox, APP_PORT)
    assert "Preview test app" in app.get("/").text
    # The ticket is good once.
    again = PreviewClient(live, app.origin)
    assert again.get(app.ticket_url.split(app.origin)[1]).status_code == 403
    assert not again.cookies


def test_its_cookie_is_the_previews_own(live, owner):
    """Host-only (no Domain), HttpOnly, SameSite=Lax; the site's cookies stay on the site."""
    answer = owner.http.get(f"{live.url}/previews/{owner.sandbox}/{APP_PORT}/", allow_redirects=False)
    client = PreviewClient(live, preview_origin(live, owner.sandbox, APP_PORT))
    entered = client.get(answer.headers["Location"].split(client.origin)[1])
    cookie = entered.headers["Set-Cookie"]
    assert cookie.startswith("labdeck_preview=") and "Domain" not in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert not {"sessionid", "csrftoken"} & set(client.cookies)


def test_it_refuses_whoever_has_not_the_previews_cookie(live, owner, app):
    stranger = PreviewClient(live, app.origin)
    assert stranger.get("/").status_code == 403
    # The site's session is never trusted on a preview origin, even when sent there.
    assert stranger.get("/", cookies=owner.http.cookies.get_dict()).status_code == 403
    assert stranger.get("/", cookies={"labdeck_preview": "forged:value:sig"}).status_code == 403
    # The owner's cookie opens that preview only, not another port of the sandbox.
    other_port = PreviewClient(live, preview_origin(live, owner.sandbox, 8766))
    assert other_port.get("/", cookies=app.cookies).status_code == 403


def test_another_learner_gets_no_ticket(live, owner):
    other = Learner(live)
    assert other.http.get(f"{live.url}/previews/{owner.sandbox}/{APP_PORT}/", allow_redirects=False).status_code == 403
    for action in ("share", "unshare"):
        answer = other.http.post(f"{live.url}/previews/{owner.sandbox}/{APP_PORT}/{action}",
                                 headers={"X-CSRFToken": other.http.cookies["csrftoken"]})
        assert answer.status_code == 403, answer.text


def test_the_app_gets_the_request_without_labdecks_cookie(app):
    seen = app.get("/headers", cookies={**app.cookies, "theirs": "1"}).json()
    assert seen["cookie"] == "theirs=1"
    assert seen["host"] == app.host
    assert seen["connection"] == "close"


def test_the_apps_cookies_stay_on_its_preview(app):
    answer = app.get("/cookies", cookies=dict(app.cookies))
    cookies = answer.raw.headers.getlist("Set-Cookie")
    assert cookies == ["app=1; Path=/"], cookies


def test_it_streams_the_answer(live, app):
    started = time.monotonic()
    with requests.get(f"http://127.0.0.1:{live.port}/stream", stream=True, timeout=20,
                      headers={"Host": app.host, "Cookie": f"labdeck_preview={app.cookies['labdeck_preview']}"}) as r:
        lines = r.iter_lines()
        assert next(lines) == b"first"
        first = time.monotonic() - started
        assert next(lines) == b"second"
        assert time.monotonic() - started - first > 1.5
    assert first < 1.5


def test_it_says_when_nothing_answers_on_the_port(live, owner):
    client = open_as_owner(owner, owner.sandbox, 9999)
    answer = client.get("/")
    assert answer.status_code == 502 and "Nothing answers" in answer.text


def test_it_cuts_an_answer_past_the_byte_budget(app):
    started = time.monotonic()
    answer = app.get("/big?mb=64")
    assert answer.status_code == 200
    assert (BUDGET_MIB - 1) << 20 < len(answer.content) <= BUDGET_MIB << 20
    assert time.monotonic() - started < 10


def test_it_holds_a_few_connections_per_sandbox_each_for_a_while(live, app):
    """CONNECTIONS requests that hang take every slot: one more waits a few
    seconds, then gets a 503; each hanging one ends at the time budget."""
    answers: list[tuple[int, float]] = []

    def hold():
        started = time.monotonic()
        answers.append((app.get("/hold").status_code, time.monotonic() - started))

    threads = [threading.Thread(target=hold) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    started = time.monotonic()
    busy = app.get("/")
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "2"
    assert 4 < time.monotonic() - started < SECONDS
    for thread in threads:
        thread.join(30)
    assert [status for status, _ in answers] == [504] * CONNECTIONS
    assert all(SECONDS - 1 < took < SECONDS + 5 for _, took in answers), answers
    assert app.get("/").status_code == 200


def test_it_proxies_a_websocket(app):
    with app.websocket() as ws:
        ws.send("hello")
        assert ws.recv(10) == "echo: hello"
        ws.send(b"\x01\x02\x03")
        assert ws.recv(10) == b"\x03\x02\x01"


def test_a_previews_websocket_opens_from_its_own_pages_only(live, owner, app):
    for origin in (live.url, preview_origin(live, owner.sandbox, 8766)):
        with pytest.raises(InvalidStatus) as refused:
            app.websocket(origin=origin)
        assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        app.websocket(cookies={})


def test_a_share_link_works_until_revoked(live, owner):
    shared = owner.http.post(f"{live.url}/previews/{owner.sandbox}/{APP_PORT}/share",
                             headers={"X-CSRFToken": owner.http.cookies["csrftoken"]}).json()
    again = owner.http.post(f"{live.url}/previews/{owner.sandbox}/{APP_PORT}/share",
                            headers={"X-CSRFToken": owner.http.cookies["csrftoken"]}).json()
    assert shared["share_url"] == again["share_url"]
    stranger = PreviewClient(live, preview_origin(live, owner.sandbox, APP_PORT))
    stranger.enter(shared["share_url"])
    assert "Preview test app" in stranger.get("/").text
    with stranger.websocket() as ws:
        ws.send("still there?")
        assert ws.recv(10) == "echo: still there?"
        revoked = owner.http.post(f"{live.url}/previews/{owner.sandbox}/{APP_PORT}/unshare",
                                  headers={"X-CSRFToken": owner.http.cookies["csrftoken"]})
        assert revoked.json() == {"port": APP_PORT, "share_url": None}
        assert stranger.get("/").status_code == 403
        # An open websocket of the link ends within seconds too.
        with pytest.raises(ConnectionClosed):
            ws.recv(10)
        assert ws.close_code == 4403
    assert PreviewClient(live, stranger.origin).get(shared["share_url"].split(stranger.origin)[1]).status_code == 403


def _ports_socket(learner: Learner, sandbox: str):
    cookie = "; ".join(f"{k}={v}" for k, v in learner.http.cookies.get_dict().items())
    return connect(f"{learner.server.url.replace('http', 'ws')}/ws/previews/{sandbox}/", origin=learner.server.url,
                   additional_headers={"Cookie": cookie}, open_timeout=10)


def _ports(ws, timeout: float = 20) -> dict[int, dict]:
    return {p["port"]: p for p in json.loads(ws.recv(timeout))["ports"]}


def test_the_ports_socket_follows_what_the_containers_publish(live, owner):
    with _ports_socket(owner, owner.sandbox) as ws:
        ports = _ports(ws)
        assert ports[APP_PORT]["container"] == "app" and ports[APP_PORT]["image"] == "python"
        assert ports[APP_PORT]["url"] == f"/previews/{owner.sandbox}/{APP_PORT}/"
        in_sandbox(owner.handle, "docker", "run", "-d", "--name", "httpd", "-p", "8080", "busybox",
                   "httpd", "-f", "-p", "8080")
        ports = _ports(ws)
        (published,) = ports.keys() - {APP_PORT}
        assert ports[published]["private"] == 8080 and ports[published]["container"] == "httpd"
        in_sandbox(owner.handle, "docker", "rm", "-f", "httpd")
        assert set(_ports(ws)) == {APP_PORT}


def test_the_ports_socket_is_the_owners_only(live, owner):
    with _ports_socket(Learner(live), owner.sandbox) as ws:
        assert json.loads(ws.recv(10))["type"] == "error"
        with pytest.raises(ConnectionClosed):
            ws.recv(10)
    assert ws.close_code == 4403


def test_a_page_on_another_port_of_the_sites_host_opens_no_websocket(live, owner):
    """The origin check compares scheme, host and port: the site's host name
    on another port is another origin."""
    cookies = owner.http.cookies.get_dict()
    other_port = f"http://127.0.0.1:{live.port + 1 if live.port < 65535 else live.port - 1}"
    for origin in (other_port, f"https://127.0.0.1:{live.port}", f"http://evil.localhost:{live.port}"):
        with pytest.raises(InvalidStatus) as refused:
            TerminalClient(live, owner.info["terminal_url"], cookies, origin=origin)
        assert refused.value.response.status_code == 403, origin
    for origin in (live.url, f"http://localhost:{live.port}"):
        term = TerminalClient(live, owner.info["terminal_url"], cookies, origin=origin)
        term.read_until("# ")
        term.close()


def test_the_origins_setting(monkeypatch):
    from labdeck.settings import envorigins, site_origins

    assert site_origins(["127.0.0.1", "localhost", ".example.org", "*", "::1"], 8000) == [
        "http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"]
    assert site_origins(["labdeck.example.org"], 80) == ["http://labdeck.example.org"]
    monkeypatch.setenv("LABDECK_ORIGINS", "https://labdeck.example.org, http://127.0.0.1:8000")
    assert envorigins("LABDECK_ORIGINS", []) == ["https://labdeck.example.org", "http://127.0.0.1:8000"]
    for wrong in ("labdeck.example.org", "https://*.example.org", "https://example.org/path"):
        monkeypatch.setenv("LABDECK_ORIGINS", wrong)
        with pytest.raises(ValueError):
            envorigins("LABDECK_ORIGINS", [])


def test_a_preview_is_named_by_its_host(settings):
    import uuid

    from previews.hosts import Preview, from_host

    settings.LABDECK_PREVIEW_HOST = "preview.example.org"
    sandbox = uuid.uuid4()
    assert from_host(f"8000-{sandbox.hex}.preview.example.org") == Preview(sandbox, 8000)
    assert from_host(f"8000-{sandbox.hex}.Preview.Example.org:443") == Preview(sandbox, 8000)
    assert Preview(sandbox, 8000).origin(True) == f"https://8000-{sandbox.hex}.preview.example.org"
    for host in (f"0-{sandbox.hex}.preview.example.org", f"65536-{sandbox.hex}.preview.example.org",
                 f"8000-{sandbox.hex}.evil.org", f"8000-{sandbox}.preview.example.org",
                 f"x.8000-{sandbox.hex}.preview.example.org", "preview.example.org", "labdeck.example.org", ""):
        assert from_host(host) is None, host
    settings.LABDECK_PREVIEW_HOST = ""
    assert from_host(f"8000-{sandbox.hex}.preview.example.org") is None


def test_what_the_inner_engine_says_is_cut_to_size():
    from previews.ports import MAX_NAME, MAX_PORTS, Published, published

    containers = [
        {"Names": ["/web"], "Image": "nginx", "Ports": [
            {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 32768, "Type": "tcp"},
            {"IP": "::", "PrivatePort": 80, "PublicPort": 32768, "Type": "tcp"},
            {"IP": "0.0.0.0", "PrivatePort": 53, "PublicPort": 5353, "Type": "udp"},
            {"IP": "172.17.0.1", "PrivatePort": 80, "PublicPort": 8081, "Type": "tcp"},
            {"PrivatePort": 443, "Type": "tcp"},
        ]},
        {"Names": ["/" + "x" * 500], "Image": 7, "Ports": [{"IP": "0.0.0.0", "PublicPort": 8000, "Type": "tcp"}]},
        {"Names": "not a list", "Ports": [{"IP": "0.0.0.0", "PublicPort": 99999, "Type": "tcp"}, "junk"]},
        "junk",
    ]
    assert published(containers) == [Published(8000, 0, "x" * MAX_NAME, "7"), Published(32768, 80, "web", "nginx")]
    assert published({"message": "not a list"}) == []
    many = [{"Ports": [{"IP": "0.0.0.0", "PublicPort": p, "Type": "tcp"}]} for p in range(1000, 1100)]
    assert len(published(many)) == MAX_PORTS


def test_the_sites_cookies_must_stay_host_only(settings):
    from previews.checks import site_cookies_host_only

    settings.LABDECK_PREVIEW_HOST = "preview.example.org"
    assert site_cookies_host_only(None) == []
    settings.SESSION_COOKIE_DOMAIN = ".example.org"
    assert [e.id for e in site_cookies_host_only(None)] == ["previews.E001"]
    settings.LABDECK_PREVIEW_HOST = ""
    assert site_cookies_host_only(None) == []
