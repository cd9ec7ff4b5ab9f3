"""The idle warning: shortly before the reaper would stop an idle sandbox,
the learner is told and can keep it."""
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from sandboxes.models import Sandbox
from sandboxes.owners import SESSION_KEY


def sandbox_status(page) -> dict:
    return page.evaluate("fetch('/sandbox/status', {credentials: 'same-origin'}).then(r => r.json())")


@pytest.mark.browser
def test_it_warns_before_an_idle_sandbox_is_stopped_and_keeps_it(browser, page):
    """The banner appears within warn_before of the deadline; Keep it hides it and moves the deadline."""
    from tests.support import LiveServer

    live = LiveServer(LABDECK_SANDBOX_IDLE="40", LABDECK_IDLE_WARNING="38")
    try:
        page.goto(live.url + "/")
        page.click("#start")
        page.wait_for_selector("#status[data-state=ready]", timeout=60_000)
        info = sandbox_status(page)
        assert info["warn_before"] == 38 and info["idle_deadline"]

        banner = page.wait_for_selector("[data-idle-warning]", state="visible", timeout=15_000)
        assert banner.get_attribute("role") == "alert"
        assert "idle and will be stopped in less than a minute" in banner.inner_text()
        assert page.evaluate("document.body.firstElementChild.hasAttribute('data-idle-warning')")
        before = datetime.fromisoformat(sandbox_status(page)["idle_deadline"])

        page.click("[data-keep-sandbox]")
        page.wait_for_selector("[data-idle-warning]", state="hidden", timeout=5_000)
        after = datetime.fromisoformat(sandbox_status(page)["idle_deadline"])
        assert after > before
        page.close()

        # A learner whose computer's clock is an hour slow is warned too:
        # the server says how long is left.
        slow = browser.new_context()
        try:
            slow.add_init_script("{ const real = Date.now; Date.now = () => real() - 3600e3; }")
            late = slow.new_page()
            late.goto(live.url + "/")
            late.click("#start")
            late.wait_for_selector("#status[data-state=ready]", timeout=60_000)
            late.wait_for_selector("[data-idle-warning]", state="visible", timeout=15_000)
        finally:
            slow.close()
    finally:
        live.stop()


@pytest.mark.django_db
def test_it_extends_only_the_learners_own_sandbox(client):
    """Without a sandbox Keep it is a 404 that touches no one else's; with one, only theirs moves."""
    long_ago = timezone.now() - timedelta(minutes=20)
    others = [Sandbox.objects.create(owner="someone-else", state=Sandbox.ASSIGNED, last_seen=long_ago),
              Sandbox.objects.create(owner="", state=Sandbox.STARTING, last_seen=long_ago)]  # the pool's

    response = client.post("/sandbox/extend")
    assert response.status_code == 404 and response.json()["state"] == "none"
    client.get("/courses/intro/")  # now the session has an owner key, still no sandbox
    assert client.post("/sandbox/extend").status_code == 404
    assert client.get("/sandbox/extend").status_code == 405

    mine = Sandbox.objects.create(owner=client.session[SESSION_KEY], state=Sandbox.ASSIGNED, last_seen=long_ago)
    data = client.post("/sandbox/extend").json()
    mine.refresh_from_db()
    assert mine.last_seen > long_ago
    assert data["sandbox"] == str(mine.public_id)
    assert datetime.fromisoformat(data["idle_deadline"]) == mine.last_seen + timedelta(
        seconds=settings.LABDECK_SANDBOX_IDLE)
    for other in others:
        other.refresh_from_db()
        assert other.last_seen == long_ago


@pytest.mark.django_db
def test_it_says_when_the_idle_reaper_would_stop_the_sandbox(client):
    """/sandbox/status gives the idle deadline and how early to warn, for an assigned sandbox only."""
    client.get("/courses/intro/")
    owner = client.session[SESSION_KEY]
    seen = timezone.now() - timedelta(minutes=3)
    sandbox = Sandbox.objects.create(owner=owner, state=Sandbox.STARTING, last_seen=seen)
    assert "idle_deadline" not in client.get("/sandbox/status").json()

    Sandbox.objects.filter(pk=sandbox.pk).update(state=Sandbox.ASSIGNED)
    data = client.get("/sandbox/status").json()
    assert datetime.fromisoformat(data["idle_deadline"]) == seen + timedelta(seconds=settings.LABDECK_SANDBOX_IDLE)
    assert data["warn_before"] == settings.LABDECK_IDLE_WARNING
