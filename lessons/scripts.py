"""An exercise's scripts in a sandbox, run the way the lesson tests run them.

The setup script runs from the platform (one exec, leaving no trace in the
shell history); the solve script is typed into a login shell of the sandbox,
as a learner would type it, so it lands in the history that `history` checks
read. The lesson self-test (selftest.py) and the learner's catch-up
(catchup.py) share these, so both bring a sandbox to the same state.
"""
from __future__ import annotations

import asyncio
import re
import secrets
import time

from lessons.course import Exercise
from sandboxes.backends import get_backend


class Shell:
    """A login shell in the sandbox that scripts are typed into, one after the
    other, as a learner would: variables and the directory carry over."""

    def __init__(self, handle: str):
        self.handle = handle

    async def __aenter__(self) -> Shell:
        self.stream = await get_backend().open_terminal(self.handle, 200, 50)
        await self.stream.write(b"set +H\r")
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stream.close()

    async def type(self, script: str, timeout: float = 600) -> tuple[str, int]:
        """Type script and wait until it is done; return what the terminal
        showed and the exit status of its last command (-1: the shell ended)."""
        token = secrets.token_hex(6)
        # The typed line shows `$?`; only the command's own output has digits.
        done = re.compile(rb"__done_" + token.encode() + rb"_(\d+)")
        output = b""
        await self.stream.write(script.replace("\r\n", "\n").rstrip("\n").encode() + b"\n")
        await self.stream.write(f"echo __done_{token}_$?\r".encode())
        deadline = time.monotonic() + timeout
        while not done.search(output):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"script still running after {timeout:.0f} s")
            chunk = await asyncio.wait_for(self.stream.read(65536), left)
            if not chunk:
                break
            output += chunk
        match = done.search(output)
        return output.decode("utf-8", "replace"), int(match.group(1)) if match else -1


async def type_script(handle: str, script: str, timeout: float = 600) -> tuple[str, int]:
    """Type one script into a shell of its own; (terminal output, exit status)."""
    async with Shell(handle) as shell:
        return await shell.type(script, timeout)


def run_setup(handle: str, exercise: Exercise, timeout: float = 300) -> tuple[int, str]:
    """Run the exercise's setup script, if it has one: (exit status, output).

    Blocking (one exec through the backend): from async code, run it in a thread.
    """
    if not exercise.setup.strip():
        return 0, ""
    result = get_backend().exec(handle, ["bash", "-c", exercise.setup], timeout)
    return result.exit_code, result.output.decode("utf-8", "replace")
