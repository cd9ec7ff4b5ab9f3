"""Catch up: bring a fresh sandbox to where a section expects it.

A learner who comes back later gets a fresh sandbox, but each section builds
on what the earlier ones left behind (images built, containers running,
files written). Catching up runs, in course order, the setup and then the
solve script of every exercise of the sections before the learner's, the
same way the lesson self-test runs them (lessons/scripts.py), and reports
each step so that the page can show a progress bar.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lessons.course import Course, Exercise
from lessons.scripts import Shell, run_setup
from sandboxes.backends import BackendUnavailable, SandboxError

log = logging.getLogger(__name__)

# Seconds one script may take: the slowest solve scripts build images.
SCRIPT_TIMEOUT = 300.0


@dataclass
class Report:
    """Where a catch-up is, as the player's progress bar shows it."""

    state: str  # "running", "done" or "failed"
    done: int  # exercises finished
    total: int
    exercise: str = ""  # the id of the exercise running, or the one that failed
    message: str = ""  # the same, in words, for the learner


Reporter = Callable[[Report], Awaitable[None]]


def exercises_before(course: Course, slide_number: int) -> list[Exercise]:
    """The exercises of every section before the one holding the slide, in
    course order: what a learner on that slide is expected to have done.

    Raises ValueError when the course has no such slide.
    """
    current = course.section_of(slide_number)
    if current is None:
        raise ValueError(f"course {course.slug} has no slide {slide_number}")
    exercises: list[Exercise] = []
    for section in course.sections():
        if section is current:
            break
        exercises.extend(e for slide in section.slides for e in slide.exercises)
    return exercises


async def catch_up(handle: str, exercises: list[Exercise], report: Reporter,
                   timeout: float = SCRIPT_TIMEOUT) -> bool:
    """Run each exercise's setup then solve script in the sandbox, in order,
    calling report before each one and once at the end. The first script
    that fails stops the catch-up; return whether all of them worked."""
    total = len(exercises)
    if not total:
        await report(Report("done", 0, 0, message="Nothing to catch up before this section."))
        return True
    done = 0
    try:
        async with Shell(handle) as shell:
            for done, exercise in enumerate(exercises):
                await report(Report("running", done, total, exercise.id,
                                    f"Catching up: {done + 1} of {total} exercises ({exercise.id})"))
                problem = await _run(shell, exercise, timeout)
                if problem:
                    await report(_stopped(done, total, exercise, problem))
                    return False
    except (BackendUnavailable, SandboxError) as exc:
        log.warning("catch-up in %s: %s", handle, exc)
        await report(_stopped(done, total, exercises[done], "your sandbox did not answer"))
        return False
    await report(Report("done", total, total, message=f"Caught up: {total} exercises ran in your sandbox."))
    return True


def _stopped(done: int, total: int, exercise: Exercise, problem: str) -> Report:
    return Report("failed", done, total, exercise.id,
                  f"Catch-up stopped at exercise {done + 1} of {total}, “{exercise.title}” ({exercise.id}): "
                  f"{problem}.")


async def _run(shell: Shell, exercise: Exercise, timeout: float) -> str | None:
    """None when both scripts worked, else what went wrong, in words."""
    status, output = await asyncio.to_thread(run_setup, shell.handle, exercise, timeout)
    if status != 0:
        log.warning("catch-up: setup of %s exited %s:\n%s", exercise.id, status, output[-1000:])
        return f"its setup script failed (exit status {status})"
    try:
        transcript, status = await shell.type(exercise.solve, timeout)
    except TimeoutError:
        return f"its solution was still running after {timeout:.0f} seconds"
    if status == -1:
        return "the shell closed before its solution finished"
    if status != 0:
        log.warning("catch-up: solve of %s exited %s:\n%s", exercise.id, status, transcript[-1000:])
        return f"its solution failed (exit status {status})"
    return None
