"""Headless Chromium (Debian's) driven by Playwright, for the page tests."""
from __future__ import annotations

import re
import time

CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium keeps trying to reach Google's services, which a
# closed network refuses; the tests talk to 127.0.0.1 only.
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)


def terminal_text(page, terminal: str = "[data-terminal]") -> str:
    """What the terminal shows, read through xterm's screen-reader rows
    (terminal: the selector of one, e.g. a node's "[data-node-terminal=node2]")."""
    return page.eval_on_selector(
        f"{terminal} .xterm-accessibility-tree",
        "el => Array.from(el.children).map(row => row.textContent).join('\\n')",
    )


def wait_for_terminal_line(page, pattern: str, timeout: float = 30, terminal: str = "[data-terminal]") -> str:
    """Wait until a whole line of the terminal matches pattern (a regex)."""
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern, re.M)
    text = ""
    while time.monotonic() < deadline:
        text = terminal_text(page, terminal)
        if regex.search(text):
            return text
        page.wait_for_timeout(100)
    raise AssertionError(f"no line matching {pattern!r}; the terminal shows:\n{text}")
