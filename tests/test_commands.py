"""The checker follows each sandbox's finished shell commands (the lines that
the sandbox's bash appends to /run/labdeck-commands) and reports them to the
learner's rooms: the dashboard's command list."""
import asyncio
import secrets
import time

import pytest

from lessons import worker as checker_worker
from tests.support import own_sandbox, run_async

COMMANDS_FILE = "/run/labdeck-commands"


@pytest.fixture(scope="module")
def handle():
    with own_sandbox("commands") as name:
        yield name


def append(handle: str, *lines: str) -> None:
    """What the sandbox's bash writes after each command (epoch, status, command)."""
    from sandboxes.backends import get_backend

    script = "".join(f"echo '{line}' >> {COMMANDS_FILE}; " for line in lines)
    result = get_backend().exec(handle, ["sh", "-c", script], 10)
    assert result.exit_code == 0, result.output


class Room(checker_worker.Worker):
    """A worker whose learner is in one room, whose reports are kept here."""

    def __init__(self):
        super().__init__(threads=1)
        self.reported: list[str] = []

    async def rooms_of(self, owner: str) -> list[str]:
        return ["room"]


async def wait_until(predicate, what, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what()
        await asyncio.sleep(0.1)


def test_a_command_typed_before_the_checker_follows_is_reported_once(handle, monkeypatch):
    """The worker may start following a sandbox a moment after the learner's
    first command (it learns of new sandboxes every few seconds): that command
    still reaches the dashboard; one from long before does not; a follower
    that reconnects does not report a command twice, but the same command
    typed twice is reported twice."""
    from sandboxes.backends import get_backend

    now = int(time.time())
    marker = secrets.token_hex(3)
    append(handle, f"{now - 3600} 0 echo old-{marker}", f"{now - 5} 0 echo first-{marker}")
    room = Room()

    async def report(room_code, owner, kind, **fields):
        room.reported.append(fields["command"])

    monkeypatch.setattr(checker_worker.rooms, "report", report)

    async def scenario():
        mine = lambda: [c for c in room.reported if marker in c]  # noqa: E731
        checker = checker_worker.SandboxChecker(room, handle, "owner")
        checker.trigger = lambda asked=None: None  # no check rounds here
        task = asyncio.get_running_loop().create_task(checker.follow_commands(checker_worker.CommandsSeen(1)))
        try:
            await wait_until(lambda: mine() == [f"echo first-{marker}"], lambda: f"reported: {room.reported}")
            # The follower's exec ends (as when the engine restarts); while it
            # is away, one command runs twice in one second.
            stamp = int(time.time())
            killed = await asyncio.to_thread(get_backend().exec, handle, [
                "sh", "-c", f"kill $(pidof tail); echo '{stamp} 0 echo again-{marker}' >> {COMMANDS_FILE};"
                f" echo '{stamp} 0 echo again-{marker}' >> {COMMANDS_FILE}"], 10)
            assert killed.exit_code == 0, killed.output
            await wait_until(lambda: len(mine()) >= 3, lambda: f"reported: {room.reported}")
            await asyncio.sleep(2.5)  # past a second reconnect, which would read the file again
            return mine()
        finally:
            task.cancel()

    seen = run_async(scenario())
    assert seen == [f"echo first-{marker}", f"echo again-{marker}", f"echo again-{marker}"], seen
