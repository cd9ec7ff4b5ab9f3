"""The terminal websocket end to end: a live web process, real sandboxes."""
import time

import psutil
import pytest
from websockets.exceptions import ConnectionClosed

from sandboxes import protocol
from tests.support import Learner, TerminalClient


def test_it_runs_docker_inside_the_sandbox(learner):
    """`docker run busybox echo hello world` prints hello world in the browser terminal."""
    term = learner.terminal(learner.info)
    term.read_until("# ")
    term.send("docker run busybox echo hello world\r")
    term.read_line("hello world", timeout=30)
    term.close()


def test_it_keeps_keystrokes_in_order(learner):
    """Keys sent one frame at a time, as fast as possible, arrive in order."""
    term = learner.terminal(learner.info)
    term.read_until("# ")
    for ch in "echo abcdefghijklmnopqrstuvwxyz0123456789 | rev\r":
        term.send(ch)
    term.read_until("9876543210zyxwvutsrqponmlkjihgfedcba")
    term.close()


def test_it_follows_resize(learner):
    term = learner.terminal(learner.info)
    term.read_until("# ")
    term.ws.send(protocol.resize_frame(133, 41))
    term.send("stty size\r")
    term.read_until("41 133")
    term.close()


def test_it_restores_the_shell_after_a_reload(learner):
    """A new connection gets the same shell, its recent screen, and a running `docker logs -f`."""
    term = learner.terminal(learner.info)
    term.read_until("# ")
    ticker = "i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.2; done"
    term.send(f"export MARKER=still-here; docker run -d --name ticker busybox sh -c '{ticker}'\r")
    term.read_until("# ", timeout=30)
    term.send("docker logs -f ticker\r")
    term.read_until("tick-3")
    term.close()
    time.sleep(1.5)

    again = learner.terminal(learner.info)
    assert again.recv(5) == b"" and again.statuses[-1].get("reset") is True
    replay = again.read_until("tick-")
    assert b"docker logs -f ticker" in replay, "the recent screen was not replayed"
    later = again.read_until("tick-12", timeout=10)
    assert later, "docker logs -f stopped while the page was away"
    again.send("\x03")
    again.read_until("# ")
    again.send("echo $MARKER\r")
    again.read_until("still-here")
    again.send("docker rm -f ticker\r")
    again.read_until("# ")
    again.close()


def test_it_refuses_another_learners_terminal(server, learner):
    """A second learner is refused the first learner's terminal, with a reason."""
    intruder = Learner(server)
    term = TerminalClient(server, learner.info["terminal_url"], intruder.http.cookies.get_dict())
    term.recv(5)
    assert term.statuses[-1]["state"] == "closed"
    assert "someone else" in term.statuses[-1]["message"]
    with pytest.raises(ConnectionClosed):
        term.ws.recv(timeout=5)
    assert term.ws.close_code == 4403


def test_it_refuses_an_unknown_sandbox(server, learner):
    term = TerminalClient(server, "/ws/terminal/00000000-0000-4000-8000-000000000000/",
                          learner.http.cookies.get_dict())
    term.recv(5)
    assert term.statuses[-1]["message"] == "There is no such sandbox."
    with pytest.raises(ConnectionClosed):
        term.ws.recv(timeout=5)
    assert term.ws.close_code == 4404


def test_it_refuses_a_foreign_origin(server, learner):
    with pytest.raises(Exception) as refused:
        TerminalClient(server, learner.info["terminal_url"], learner.http.cookies.get_dict(),
                       origin="http://evil.example")
    assert "403" in str(refused.value)


def test_it_survives_garbage_frames(learner):
    """Malformed frames get a warning; the shell keeps working."""
    term = learner.terminal(learner.info)
    term.read_until("# ")
    for junk in (b"", b"\x01\x00", b"\x02", b"\x7fhello", b"\x01" + b"\xff" * 4, b"\x00" + b"x" * 70000):
        term.ws.send(junk)
    term.ws.send("a text frame")
    term.send("echo survived\r")
    term.read_until("survived")
    warnings = [s for s in term.statuses if s["state"] == "warning"]
    assert len(warnings) == 7
    term.close()


def test_it_holds_a_flood_without_growing(learner, server):
    """While `yes` floods and the client stops acknowledging, server memory stays
    flat; Ctrl-C then brings the prompt back."""
    term = learner.terminal(learner.info)
    term.read_until("# ")
    term.auto_ack = False
    term.send("yes labdeck-flood-line\r")
    received = 0
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        received += len(term.recv(0.5) or b"")
    process = psutil.Process(server.pid)
    rss_before = process.memory_info().rss
    for _ in range(30):
        received += len(term.recv(0.1) or b"")
    rss_after = process.memory_info().rss
    # Without acknowledgements the server sends at most its high watermark
    # (plus the replay and the prompt), however long the flood runs.
    assert received < 400 * 1024, received
    assert rss_after - rss_before < 8 * 1024 * 1024
    term.auto_ack = True
    term.ws.send(protocol.ack_frame(received))
    started = time.monotonic()
    term.send("\x03")
    # As a learner does: the prompt, then the next command (bash drops keys
    # typed while it handles the interrupt).
    term.read_until("# ", timeout=20)
    term.send("echo flood-over\r")
    term.read_line("flood-over", timeout=20)
    assert time.monotonic() - started < 10
    term.close()


def wait_closed(term: TerminalClient, timeout: float = 20) -> int | None:
    """Read until the server closes the connection; its close code."""
    deadline = time.monotonic() + timeout
    with pytest.raises(ConnectionClosed):
        while time.monotonic() < deadline:
            term.recv(0.5)
    return term.ws.close_code


def wait_status(term: TerminalClient, message: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not any(s["message"] == message for s in term.statuses):
        assert time.monotonic() < deadline, f"no status {message!r}: {term.statuses}"
        term.recv(0.5)


def test_it_tells_the_shells_own_exit_status(learner):
    """`exit 7` ends the shell: the page is told 7, and the next connection
    gets a new shell."""
    term = learner.terminal(learner.info)
    term.read_until("# ")
    term.send("exit 7\r")
    assert wait_closed(term) == 4000
    assert term.exit_code == 7
    again = learner.terminal(learner.info)
    again.read_until("# ")
    again.send("echo fresh-$((6*7))\r")
    again.read_line("fresh-42")
    again.close()


def test_a_full_screen_program_is_shown_again_after_a_reload(learner):
    """A program on the alternate screen is back on it after a reload, even
    when its output has pushed its start out of the replay, and it is asked
    to draw itself again (SIGWINCH)."""
    term = learner.terminal(learner.info)
    term.read_until("# ")
    script = ["printf '\\033[?1049h'", "head -c 400000 /dev/zero | tr '\\0' y", "echo; echo drawn-$((6*7))",
              "trap 'echo redrawn-$((6*7))' WINCH", "while :; do sleep 0.1; done"]
    term.send("cat > /root/fullscreen.sh <<'EOF'\r" + "\r".join(script) + "\rEOF\r")
    term.read_until("# ")
    term.send("bash /root/fullscreen.sh\r")
    term.read_line("drawn-42", timeout=60)
    term.close()
    again = learner.terminal(learner.info)
    again.read_line("redrawn-42", timeout=10)
    replay = again.screen
    assert len(replay) < 300 * 1024, len(replay)  # the last 256 KiB, not the whole 400 KB
    assert replay.rfind(b"\x1b[?1049h") > replay.rfind(b"\x1b[?1049l"), "not back on the alternate screen"
    again.send("\x03")
    again.read_until("# ")
    again.close()


def replace_holder(term: TerminalClient, *lines: str) -> None:
    """As a hostile learner would: the program each connection starts
    becomes a script of these lines, which first puts the real one back."""
    script = ["#!/bin/sh", "cp /root/real-holder /usr/local/bin/.h; mv /usr/local/bin/.h /usr/local/bin/labdeck-term",
              *lines]
    term.send("export MARK=kept-$((6*7)); cp /usr/local/bin/labdeck-term /root/real-holder; "
              "cat > /root/fake <<'EOF'\r" + "\r".join(script) + "\rEOF\r")
    term.send("chmod +x /root/fake; mv /root/fake /usr/local/bin/labdeck-term; echo armed-$((6*7))\r")
    term.read_line("armed-42")


@pytest.mark.parametrize("fake", [
    # Garbage: frames of no known kind.
    "printf OOOOO; exec cat /dev/zero",
    # Window sizes are not output, so flow control does not bound them: a
    # fake that sends nothing else, as fast as it can, must not keep the
    # web process busy.
    "while :; do printf 'H\\000\\000\\000\\004\\000P\\000\\030'; done",
], ids=["garbage", "size-flood"])
def test_a_holder_client_the_learner_replaced_breaks_only_that_connection(learner, fake):
    """A learner replaces the program each connection starts with a fake:
    that connection breaks, the page reattaches by itself (the fake put the
    real program back), and the shell never noticed."""
    term = learner.terminal(learner.info)
    term.read_until("# ")
    replace_holder(term, fake)
    term.close()
    again = learner.terminal(learner.info)
    wait_status(again, "Lost the connection to your sandbox; reconnecting…")
    wait_status(again, "Reconnected.")
    again.send("echo $MARK\r")
    again.read_line("kept-42")
    again.close()
