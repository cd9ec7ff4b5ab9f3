"""Prove each exercise's check in a real sandbox: after its setup the check
fails, after its solve script it passes within the timeout.

Exercises of a chapter share one sandbox and run in course order (later
exercises build on earlier ones, as for a learner); chapters run in
parallel. Solve scripts are typed into a real terminal session, so they
land in the shell history that history checks read.
"""
from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections

from lessons.checker import evaluate
from lessons.course import Course, Exercise
from lessons.probe import Probe
from sandboxes import lifecycle, pool
from sandboxes.backends import get_backend

WORKERS = 2


async def _type_script(handle: str, script: str, timeout: float = 600) -> str:
    """Type script into a login shell of the sandbox and wait until it is done."""
    stream = await get_backend().open_terminal(handle, 200, 50)
    token = secrets.token_hex(6)
    # The typed line shows `$?`; only the command's own output has digits.
    done = re.compile(rb"__done_" + token.encode() + rb"_\d+")
    output = b""
    try:
        await stream.write(b"set +H\r")
        await stream.write(script.replace("\r\n", "\n").rstrip("\n").encode() + b"\n")
        await stream.write(f"echo __done_{token}_$?\r".encode())
        deadline = time.monotonic() + timeout
        while not done.search(output):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"script still running after {timeout:.0f} s")
            chunk = await asyncio.wait_for(stream.read(65536), left)
            if not chunk:
                break
            output += chunk
    finally:
        await stream.close()
    return output.decode("utf-8", "replace")


def _passes(exercise: Exercise, handle: str) -> tuple[bool, list[str]]:
    outcome = evaluate(exercise.check, Probe(handle))
    return outcome.passed, outcome.missing


def test_exercise(exercise: Exercise, handle: str, timeout: float) -> str | None:
    """None when the exercise behaves, else what went wrong."""
    backend = get_backend()
    if exercise.setup.strip():
        result = backend.exec(handle, ["bash", "-c", exercise.setup], 300)
        if result.exit_code != 0:
            return f"setup exited {result.exit_code}: {result.output.decode(errors='replace')[-500:]}"
    passed, _ = _passes(exercise, handle)
    if passed:
        return "the check passes before the solve script ran"
    transcript = asyncio.run(_type_script(handle, exercise.solve))
    deadline = time.monotonic() + timeout
    missing: list[str] = []
    while time.monotonic() < deadline:
        passed, missing = _passes(exercise, handle)
        if passed:
            return None
        time.sleep(0.5)
    return f"the check still fails after the solve script: {missing}; transcript ends:\n{transcript[-1500:]}"


def _run_group(exercises: list[Exercise], timeout: float, write: Callable[[str], None]) -> list[str]:
    failures = []
    sandbox = pool._reserve(f"lessons-test-{secrets.token_hex(4)}")
    if sandbox is None:
        return ["no capacity for a test sandbox (LABDECK_MAX_SANDBOXES)"]
    try:
        lifecycle.start(sandbox)
        get_backend().exec(sandbox.handle, ["sh", "-c", "while [ ! -e /run/labdeck-images-loaded ] && "
                                            "[ -e /opt/labdeck/images/images.txt ]; do sleep 0.2; done"], 300)
        for exercise in exercises:
            started = time.monotonic()
            problem = test_exercise(exercise, sandbox.handle, timeout)
            status = "ok" if problem is None else "FAILED"
            write(f"{status:6} {exercise.id} ({time.monotonic() - started:.1f} s)")
            if problem:
                failures.append(f"{exercise.id} ({exercise.path.name}:{exercise.line}): {problem}")
    finally:
        lifecycle.stop(sandbox, "lesson test done")
        close_old_connections()
    return failures


def run_exercise_tests(courses: list[Course], only: list[str], timeout: float,
                       write: Callable[[str], None] = print) -> list[str]:
    """Run every (or every named) exercise; return the failures."""
    groups: list[list[Exercise]] = []
    for course in courses:
        for chapter in course.chapters:
            exercises = [e for s in chapter.sections for slide in s.slides for e in slide.exercises
                         if not only or e.id in only]
            if exercises:
                groups.append(exercises)
    if not groups:
        return [f"no exercise named {', '.join(only)}"] if only else []
    with ThreadPoolExecutor(WORKERS) as executor:
        results = executor.map(lambda group: _run_group(group, timeout, write), groups)
        return [failure for result in results for failure in result]
