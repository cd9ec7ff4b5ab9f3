"""Previews in a real browser: the learner runs nginx with -P, a link for its
port appears beside the terminal, and it opens nginx's page in a new tab on
the preview's own origin (localhost, where the site is 127.0.0.1). Another
learner, or nobody, is refused; a share link works for a stranger until it
is revoked. A websocket through the proxy; a page on another port of the
site's host opens no websocket of the site."""
import http.server
import threading

import pytest

from tests.browser import wait_for_terminal_line
from tests.previews import APP_PORT, sandbox_handle, start_app

pytestmark = pytest.mark.browser

OPENS = """url => new Promise(resolve => {
  const ws = new WebSocket(url);
  ws.onopen = () => { ws.close(); resolve("open"); };
  ws.onclose = event => resolve("closed " + event.code);
})"""
ECHO = """() => new Promise((resolve, reject) => {
  const ws = new WebSocket("ws://" + location.host + "/ws");
  ws.onopen = () => ws.send("hi from " + location.host);
  ws.onmessage = event => { resolve(event.data); ws.close(); };
  ws.onclose = event => reject(new Error("closed " + event.code));
})"""


@pytest.fixture(scope="module")
def live():
    from tests.support import LiveServer

    server = LiveServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def learner(live, browser):
    """A learner's page with a ready terminal, in a browser context of its own."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(live.url + "/")
    page.click("#start")
    page.wait_for_selector("#status[data-state=ready]", timeout=60_000)
    wait_for_terminal_line(page, r"learner@labdeck:~# $")
    page.sandbox = page.evaluate("fetch('/sandbox/status').then(r => r.json())")["sandbox"]
    yield page
    context.close()


@pytest.fixture
def other_context(browser):
    context = browser.new_context()
    yield context
    context.close()


def _open_port(page, port: int):
    """Click the port's link; the tab it opens, loaded."""
    link = page.wait_for_selector(f'[data-preview-port="{port}"] [data-preview-link]', timeout=60_000)
    with page.context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()
    return tab


def test_the_learner_opens_the_app_they_started_and_shares_it(live, learner, browser, other_context):
    learner.click("[data-terminal]")
    learner.keyboard.type("docker run -d --name web -P nginx")
    learner.keyboard.press("Enter")
    item = learner.wait_for_selector("[data-preview-port]", timeout=60_000)
    port = int(item.get_attribute("data-preview-port"))
    assert "web (nginx), port 80" in item.inner_text()
    tab = _open_port(learner, port)
    assert tab.inner_text("h1") == "Welcome to nginx!"
    preview = tab.url
    assert preview == f"http://{port}-{learner.sandbox.replace('-', '')}.localhost:{live.port}/"
    # The preview's cookie is its own; the site's session stays on 127.0.0.1.
    names = {(c["name"], c["domain"]) for c in learner.context.cookies()}
    assert ("labdeck_preview", f"{port}-{learner.sandbox.replace('-', '')}.localhost") in names
    assert not any(name == "sessionid" and "localhost" in domain for name, domain in names)
    tab.close()

    # Another learner, with a session of their own, is refused; so is nobody at all.
    other = other_context.new_page()
    other.goto(live.url + "/")
    assert other.goto(preview).status == 403
    assert "private" in other.inner_text("body")
    assert other.goto(f"{live.url}/previews/{learner.sandbox}/{port}/").status == 403
    nobody = browser.new_context()
    try:
        assert nobody.new_page().goto(preview).status == 403

        # Shared, a stranger opens it; revoked, no longer.
        learner.click(f'[data-preview-port="{port}"] [data-preview-share]')
        link = learner.wait_for_selector(f'[data-preview-port="{port}"] [data-preview-share-url]')
        shared = link.input_value()
        stranger = nobody.new_page()
        stranger.goto(shared)
        assert stranger.inner_text("h1") == "Welcome to nginx!"
        learner.click(f'[data-preview-port="{port}"] [data-preview-unshare]')
        learner.wait_for_selector(f'[data-preview-port="{port}"] [data-preview-share]')
        assert stranger.reload().status == 403
        assert stranger.goto(shared).status == 403
    finally:
        nobody.close()

    # The container goes, and its link with it.
    learner.click("[data-terminal]")
    learner.keyboard.type("docker rm -f web")
    learner.keyboard.press("Enter")
    learner.wait_for_selector(f'[data-preview-port="{port}"]', state="detached", timeout=20_000)


def test_a_websocket_through_the_preview(live, learner):
    start_app(sandbox_handle(live, learner.sandbox))
    tab = _open_port(learner, APP_PORT)
    assert tab.inner_text("h1") == "Preview test app"
    assert tab.evaluate(ECHO) == f"echo: hi from {APP_PORT}-{learner.sandbox.replace('-', '')}.localhost:{live.port}"
    tab.close()


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<!doctype html><title>Another port</title><p>Same host, another port."
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_page_on_another_port_of_the_sites_host_is_refused(live, learner):
    """The learner's browser sends its site cookies to any port of 127.0.0.1;
    the site's websockets still open from the site's own pages only."""
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        terminal = f"ws://127.0.0.1:{live.port}/ws/terminal/{learner.sandbox}/"
        page = learner.context.new_page()
        page.goto(f"http://127.0.0.1:{other.server_address[1]}/")
        assert page.evaluate(OPENS, terminal) == "closed 1006"
        assert page.evaluate(OPENS, f"ws://127.0.0.1:{live.port}/ws/previews/{learner.sandbox}/") == "closed 1006"
        page.goto(live.url + "/courses/")
        assert page.evaluate(OPENS, f"ws://127.0.0.1:{live.port}/ws/previews/{learner.sandbox}/") == "open"
        page.close()
    finally:
        other.shutdown()
