"""An instructor and a learner in two browser contexts: create a workshop,
join with its code, pass an exercise and see it on the dashboard, watch the
learner's terminal read-only, see them stuck, broadcast, and lead the slides."""
from __future__ import annotations

import re

import pytest

from tests.browser import terminal_text, wait_for_terminal_line
from tests.classroom import make_user
from tests.support import LiveServer

pytestmark = pytest.mark.browser

PROMPT = r"learner@labdeck:~# $"


@pytest.fixture(scope="module")
def site():
    live = LiveServer(keeper=True, LABDECK_STUCK_AFTER="3")
    yield live
    live.stop()


def test_a_workshop_from_creation_to_helping_a_learner(site, browser):
    password = make_user(site, "tutor")
    teacher = browser.new_context(viewport={"width": 1400, "height": 900})
    board = teacher.new_page()
    board.goto(site.url + "/admin/login/?next=/workshops/")
    board.fill("#id_username", "tutor")
    board.fill("#id_password", password)
    board.click("input[type=submit]")
    board.wait_for_url(re.compile(r".*/workshops/$"))
    board.click("text=New workshop")
    board.fill("[name=title]", "Friday containers")
    board.select_option("[name=course]", "intro")
    board.fill("[name=expected_attendees]", "1")
    board.fill("[name=initial]", "1")
    board.fill("[name=reserved]", "0")
    board.fill("[name=capacity]", "5")
    board.locator("[data-workshop-form] button[type=submit]").click()
    board.wait_for_url(re.compile(r".*/workshops/[A-Z0-9]{6}/$"))
    code = board.url.rstrip("/").rsplit("/", 1)[1]
    board.wait_for_selector("[data-dashboard][data-live=true]")
    assert code in board.inner_text("[data-dashboard]")

    learner = browser.new_context(viewport={"width": 1280, "height": 800})
    page = learner.new_page()
    page.goto(site.url + "/join/")
    page.fill("[name=code]", code.lower())
    page.fill("[name=name]", "Lou")
    page.locator("form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/courses/intro/.*"))
    page.wait_for_selector("#status[data-state=ready]", timeout=60_000)
    wait_for_terminal_line(page, PROMPT)

    row = board.locator("[data-learner-row]", has_text="Lou")
    row.wait_for()
    lou = row.get_attribute("data-learner-row")
    board.wait_for_selector(f'[data-learner-row="{lou}"][data-connected=true]')

    number = page.evaluate(
        """document.querySelector('[data-exercise="hello-world"]').closest('[data-slide]').dataset.slide""")
    page.evaluate("n => { location.hash = '#' + n; }", number)
    slide = page.locator(f'[data-slide="{number}"]')
    slide.locator(".code-block", has_text="docker run busybox echo hello world").locator(
        'button[data-action="run"]').click()
    page.wait_for_selector('[data-exercise="hello-world"][data-status="passed"]', timeout=15_000)
    board.wait_for_selector(f'[data-learner="{lou}"][data-exercise="hello-world"][data-status="passed"]',
                            timeout=5_000)
    assert board.inner_text('[data-pass-count="hello-world"]') == "1"

    # Watch: the instructor sees the learner's screen, cannot type into it,
    # and the learner is told.
    row.locator("[data-learner-name], button, a").first.click()
    detail = board.locator(f'[data-learner-detail="{lou}"]')
    detail.wait_for()
    board.wait_for_selector(f'[data-commands="{lou}"] li', timeout=10_000)
    assert "docker run busybox echo hello world" in board.inner_text(f'[data-commands="{lou}"]')
    board.click(f'[data-action="watch"][data-learner="{lou}"]')
    watch = board.locator("[data-terminal][data-readonly=true]")
    watch.wait_for()
    wait_for_terminal_line(board, r"^hello world\s*$")
    page.wait_for_selector('[data-room="watched"]', timeout=5_000)
    watch.click()
    board.keyboard.type("touch /tmp/intruder")
    board.keyboard.press("Enter")
    page.wait_for_timeout(500)
    assert "intruder" not in terminal_text(page)
    page.locator("[data-terminal]").click()
    page.keyboard.type("ls /tmp/intruder || echo nobody-typed-here")
    page.keyboard.press("Enter")
    wait_for_terminal_line(page, r"^nobody-typed-here\s*$")

    # No progress on the section's next exercise for longer than
    # LABDECK_STUCK_AFTER (3 s here): Lou stands out, grouped by exercise.
    board.wait_for_selector(f'[data-learner-row="{lou}"][data-stuck=true]', timeout=20_000)
    assert "Lou" in board.inner_text('[data-stuck-on="figlet-inside"]')
    assert board.inner_text("[data-stuck-count]") == "1"

    # Broadcast and lead the slides.
    board.fill("[data-broadcast] textarea", "Break until 11:00")
    board.locator("[data-broadcast] button").first.click()
    page.wait_for_selector('[data-room="broadcast"]', timeout=5_000)
    assert "Break until 11:00" in page.inner_text('[data-room="broadcast"]')
    board.fill("[data-lead] input", "5")
    board.locator("[data-lead] button", has_text="Lead").first.click()
    page.wait_for_function("document.querySelector('[data-slide=\"5\"]').getAttribute('aria-current') === 'step'",
                           timeout=5_000)
    assert page.is_visible('[data-room="lead"]')

    # Removing the learner ends their place; their page says so.
    board.once("dialog", lambda dialog: dialog.accept())
    board.click(f'[data-action="remove"][data-learner="{lou}"]')
    page.wait_for_selector('[data-room="removed"]', timeout=5_000)
    board.wait_for_selector(f'[data-learner-row="{lou}"]', state="detached", timeout=5_000)
    teacher.close()
    learner.close()
