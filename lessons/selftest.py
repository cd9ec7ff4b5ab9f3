"""Prove each exercise's check in a real sandbox: after its setup the check
fails, after its solve script it passes within the timeout.

Exercises of a chapter share one sandbox and run in course order (later
exercises build on earlier ones, as for a learner); chapters run in
parallel. Solve scripts are typed into a real terminal session, so they
land in the shell history that history checks read.
"""
from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections

from lessons.checker import evaluate_in
from lessons.course import CodeBlock, Course, Exercise, Section
from lessons.scripts import Shell, run_setup, type_script
from sandboxes import lifecycle, pool
from sandboxes.backends import get_backend

WORKERS = 2


def _passes(exercise: Exercise, handle: str) -> tuple[bool, list[str]]:
    outcome = evaluate_in(exercise.check, handle)
    return outcome.passed, outcome.missing


def test_exercise(exercise: Exercise, handle: str, timeout: float) -> str | None:
    """None when the exercise behaves, else what went wrong."""
    status, output = run_setup(handle, exercise)
    if status != 0:
        return f"setup exited {status}: {output[-500:]}"
    passed, _ = _passes(exercise, handle)
    if passed:
        return "the check passes before the solve script ran"
    transcript, _ = asyncio.run(type_script(handle, exercise.solve))
    deadline = time.monotonic() + timeout
    missing: list[str] = []
    while time.monotonic() < deadline:
        passed, missing = _passes(exercise, handle)
        if passed:
            return None
        time.sleep(0.5)
    return f"the check still fails after the solve script: {missing}; transcript ends:\n{transcript[-1500:]}"


class _TestSandbox:
    """A sandbox of its own (of the course's number of machines) for one
    group of tests, removed afterwards."""

    def __init__(self, nodes: int = 1):
        self.nodes = nodes

    def __enter__(self):
        self.sandbox = pool.reserve(f"lessons-test-{secrets.token_hex(4)}", nodes=self.nodes)
        if self.sandbox is None:
            raise RuntimeError("no capacity for a test sandbox (LABDECK_MAX_SANDBOXES)")
        lifecycle.start(self.sandbox)
        backend = get_backend()
        for node in range(1, self.nodes + 1):
            backend.exec(backend.node_handle(self.sandbox.handle, node),
                         ["sh", "-c", "while [ ! -e /run/labdeck-images-loaded ] && "
                          "[ -e /opt/labdeck/images/images.txt ]; do sleep 0.2; done"], 300)
        return self.sandbox.handle

    def __exit__(self, *exc):
        lifecycle.stop(self.sandbox, "lesson test done")
        close_old_connections()


def _run_group(exercises: list[Exercise], nodes: int, timeout: float, write: Callable[[str], None]) -> list[str]:
    failures = []
    with _TestSandbox(nodes) as handle:
        for exercise in exercises:
            started = time.monotonic()
            problem = test_exercise(exercise, handle, timeout)
            status = "ok" if problem is None else "FAILED"
            write(f"{status:6} {exercise.id} ({time.monotonic() - started:.1f} s)")
            if problem:
                failures.append(f"{exercise.id} ({exercise.path.name}:{exercise.line}): {problem}")
    return failures


def run_exercise_tests(courses: list[Course], only: list[str], timeout: float,
                       write: Callable[[str], None] = print) -> list[str]:
    """Run every (or every named) exercise; return the failures."""
    groups: list[tuple[list[Exercise], int]] = []
    for course in courses:
        for chapter in course.chapters:
            exercises = [e for s in chapter.sections for slide in s.slides for e in slide.exercises
                         if not only or e.id in only]
            if exercises:
                groups.append((exercises, course.nodes))
    if not groups:
        return [f"no exercise named {', '.join(only)}"] if only else []
    with ThreadPoolExecutor(WORKERS) as executor:
        results = executor.map(lambda group: _run_group(*group, timeout, write), groups)
        return [failure for result in results for failure in result]


SKIPPED_FLAGS = {"interactive", "online"}


def _run_blocks(section: Section, nodes: int, write: Callable[[str], None]) -> list[str]:
    """Run a section's "run" blocks in order in a fresh sandbox, as a learner
    would (a block for node2 in node2's shell)."""
    blocks = [b for slide in section.slides for b in slide.blocks
              if b.actions & {"run", "interrupt"} and not b.flags & SKIPPED_FLAGS]
    if not blocks:
        return []
    with _TestSandbox(nodes) as handle:
        failures = asyncio.run(_type_blocks(handle, section, blocks))
    write(f"{'ok' if not failures else 'FAILED':6} {section.path.name} ({len(blocks)} blocks)")
    return failures


async def _type_blocks(handle: str, section: Section, blocks: list[CodeBlock]) -> list[str]:
    async with contextlib.AsyncExitStack() as stack:
        shells: dict[int, Shell] = {}
        for block in blocks:
            if block.node not in shells:
                node_handle = get_backend().node_handle(handle, block.node)
                shells[block.node] = await stack.enter_async_context(Shell(node_handle))
            transcript, status = await shells[block.node].type(block.code, timeout=300)
            if status != 0:
                return [f"{section.path.name}:{block.line}: block exited {status} (node{block.node}):\n"
                        f"{block.code}\n--- terminal ends:\n{transcript[-1200:]}"]
    return []


def run_block_tests(courses: list[Course], write: Callable[[str], None] = print) -> list[str]:
    """Run every section's blocks (like container.training's autotest); return the failures."""
    sections = {s.path: (s, course.nodes) for course in courses for s in course.sections()}.values()
    with ThreadPoolExecutor(WORKERS) as executor:
        results = executor.map(lambda item: _run_blocks(*item, write), sections)
        return [failure for result in results for failure in result]
