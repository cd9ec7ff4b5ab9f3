"""A course of three machines in a real browser: a terminal tab per node,
run blocks that type into their node's tab, and a learner whose sandbox has
one machine asked before it is swapped for three."""
import pytest

from tests.browser import wait_for_terminal_line

pytestmark = pytest.mark.browser

PROMPT = r"learner@node{}:~# $"


def test_a_learner_moves_from_one_machine_to_three_and_types_on_each(server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = context.new_page()
        page.goto(server.url + "/courses/intro/")
        page.wait_for_selector("#status[data-state=ready]", timeout=60_000)
        assert page.locator("[data-node-tab]").count() == 0

        # The three-node course: her one-machine sandbox is not taken from her unasked.
        page.goto(server.url + "/courses/swarm/")
        replace = page.locator("#sandbox-replace")
        replace.wait_for(state="visible", timeout=30_000)
        assert "3 machines" in page.inner_text("#terminal-message")
        replace.click()
        page.wait_for_selector("#status[data-state=ready]", timeout=180_000)
        tabs = page.locator("[data-node-tab]")
        assert tabs.all_inner_texts() == ["node1", "node2", "node3"]
        wait_for_terminal_line(page, PROMPT.format(1), 60, "[data-node-terminal=node1]")

        # A block written for node2 switches to node2's tab and runs there.
        number = page.evaluate("""() => {
            const block = document.querySelector('.code-block[data-action=run][data-flags~=node2]');
            return block.closest('[data-slide]').dataset.slide; }""")
        page.evaluate("n => { location.hash = '#' + n; }", number)
        block = page.locator(f'[data-slide="{number}"] .code-block[data-flags~=node2]').first
        block.wait_for(state="visible")
        first_line = block.locator("pre").inner_text().strip().splitlines()[0]
        block.locator('button[data-action="run"]').click()
        assert page.get_attribute("[data-node-tab=node2]", "aria-selected") == "true"
        assert page.is_hidden("[data-node-terminal=node1]")
        wait_for_terminal_line(page, PROMPT.format(2).rstrip("$") + ".*" + _escaped(first_line[:30]), 60,
                               "[data-node-terminal=node2]")

        # Each tab is its own machine.
        tabs.nth(2).click()
        page.keyboard.type("hostname\n")
        wait_for_terminal_line(page, r"^node3\s*$", 30, "[data-node-terminal=node3]")
    finally:
        context.close()


def _escaped(text: str) -> str:
    import re

    return re.escape(text)
