"""The learner page in a real browser: Start, type, read the output."""
import pytest

from tests.browser import wait_for_terminal_line

pytestmark = pytest.mark.browser



def test_it_gives_a_shell_where_docker_runs(server, page):
    page.goto(server.url + "/")
    assert page.inner_text("h1") == "Containers, hands on"
    page.click("#start")
    page.wait_for_selector("[data-terminal] .xterm-accessibility-tree", state="attached", timeout=60_000)
    page.wait_for_selector("#status[data-state=ready]", timeout=30_000)
    wait_for_terminal_line(page, r"learner@labdeck:~# $")
    page.keyboard.type("docker run busybox echo hello world")
    page.keyboard.press("Enter")
    text = wait_for_terminal_line(page, r"^hello world\s*$")
    assert "docker run busybox echo hello world" in text

    page.reload()
    page.wait_for_selector("#status[data-state=ready]", timeout=30_000)
    wait_for_terminal_line(page, r"^hello world\s*$", timeout=10)


def test_it_pastes_several_lines_at_once(server, page):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(server.url + "/")
    page.click("#start")
    page.wait_for_selector("#status[data-state=ready]", timeout=60_000)
    wait_for_terminal_line(page, r"learner@labdeck:~# $")
    page.evaluate("navigator.clipboard.writeText('echo first-$((1+1))\\necho second-$((2+2))\\n')")
    page.click("[data-terminal]")
    page.keyboard.press("Control+Shift+V")
    # Bash takes a paste as one edit (bracketed paste) and runs it on Enter,
    # as in any modern terminal.
    wait_for_terminal_line(page, r"^echo second-\$\(\(2\+2\)\)")
    page.keyboard.press("Enter")
    wait_for_terminal_line(page, r"^first-2\s*$")
    wait_for_terminal_line(page, r"^second-4\s*$")


def test_it_tells_a_learner_the_sandbox_host_is_unavailable(page):
    from tests.support import LiveServer

    dead = LiveServer(LABDECK_DOCKER_HOST="unix:///run/labdeck-no-such-engine.sock")
    try:
        page.goto(dead.url + "/")
        with page.expect_response(lambda r: r.url.endswith("/sandbox/start")) as answer:
            page.click("#start")
        assert answer.value.status == 503 and answer.value.json()["state"] == "unavailable"
        page.wait_for_selector("#status[data-state=unavailable]", timeout=20_000)
        assert "Sandbox host unavailable" in page.inner_text("#status")
        assert "try again" in page.inner_text("#message").lower()
        assert page.is_enabled("#start")
    finally:
        dead.stop()


def test_a_learner_waits_in_line_when_capacity_is_used_up(page):
    """With room for one sandbox, a second learner sees their place in line,
    then gets a shell as soon as the first sandbox is given up."""
    from tests.support import Learner, LiveServer

    full = LiveServer(LABDECK_MAX_SANDBOXES="1")
    try:
        first = Learner(full)
        assert first.start()["state"] == "ready"
        page.goto(full.url + "/")
        page.click("#start")
        page.wait_for_selector("#status[data-state=queued]", timeout=20_000)
        assert "number 1" in page.inner_text("#status")
        assert "in line" in page.inner_text("#message")
        owner = first.http.cookies.get("sessionid")
        full.manage("shell", "-c", (
            "from django.contrib.sessions.models import Session; from sandboxes import pool; "
            f"pool.release(Session.objects.get(pk='{owner}').get_decoded()['labdeck_owner'])"))
        page.wait_for_selector("#status[data-state=ready]", timeout=60_000)
        wait_for_terminal_line(page, r"learner@labdeck:~# $")
    finally:
        full.stop()
