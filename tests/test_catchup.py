"""Catch up (issue 5, self-paced study): a learner back with a fresh sandbox
has the earlier sections' exercises run in it, in course order, with a
progress bar, so that the sandbox is where their section expects it."""
import asyncio
import secrets
import time

import pytest

from lessons import catalog, catchup, checks
from lessons.checker import evaluate, evaluate_in
from lessons.course import Exercise
from lessons.probe import Probe
from tests.browser import wait_for_terminal_line
from tests.support import run_async

# The exercise ids of chapter 1 ("First steps"), fixed in CURRICULUM.md.
CHAPTER_1 = ["docker-version", "hello-world", "figlet-inside", "fresh-container", "clock-detached", "three-clocks",
             "logs-tail", "stop-and-kill", "detach-keys", "restart-container"]
# The states these prove are undone, on purpose, by the exercises after them.
SUPERSEDED = {
    "three-clocks": "stop-and-kill stops the running clocks",
    "stop-and-kill": "detach-keys and restart-container start clocks again",
}
PROMPT = r"learner@labdeck:~# $"


def slide_of(exercise_id: str) -> int:
    """The number of the slide that holds an exercise."""
    course = catalog.get("intro")
    return next(slide.number for slide in course.slides() if any(e.id == exercise_id for e in slide.exercises))


# A section early in chapter 2: catching up to it runs chapter 1 (about 15 s).
TARGET = "pull-tag"


def test_it_lists_the_exercises_of_the_earlier_sections_in_course_order():
    course = catalog.get("intro")
    assert catchup.exercises_before(course, 1) == []
    # A section's own exercises are not caught up, wherever in it the learner is.
    assert catchup.exercises_before(course, slide_of("docker-version")) == []
    assert [e.id for e in catchup.exercises_before(course, slide_of("pull-tag"))] == CHAPTER_1
    dockerfile = course.chapters[1].sections[1]
    for slide in (dockerfile.slides[0], dockerfile.slides[-1]):
        assert [e.id for e in catchup.exercises_before(course, slide.number)] == CHAPTER_1 + ["pull-tag"]
    with pytest.raises(ValueError):
        catchup.exercises_before(course, len(course.slides()) + 1)


@pytest.fixture(scope="module")
def sandbox():
    """A fresh sandbox, as a learner coming back gets one."""
    from sandboxes.backends import get_backend

    backend = get_backend()
    name = f"catchup-{secrets.token_hex(4)}"
    backend.create(name, {})
    try:
        backend.wait_ready(name, 60)
        backend.exec(name, ["sh", "-c", "while [ ! -e /run/labdeck-images-loaded ] && "
                                        "[ -e /opt/labdeck/images/images.txt ]; do sleep 0.2; done"], 300)
        yield name
    finally:
        backend.destroy(name)


def passes_soon(exercise: Exercise, handle: str, timeout: float = 10) -> bool:
    """Whether the exercise's check passes within timeout (as in `lessons test`)."""
    deadline = time.monotonic() + timeout
    while not evaluate_in(exercise.check, handle).passed:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def test_it_brings_a_fresh_sandbox_to_a_section_of_chapter_2(sandbox):
    exercises = catchup.exercises_before(catalog.get("intro"), slide_of(TARGET))
    reports: list[catchup.Report] = []
    passed_in_turn: dict[str, bool] = {}

    async def report(step: catchup.Report) -> None:
        reports.append(step)
        if step.done:  # the exercise before this step has just been caught up
            previous = exercises[step.done - 1]
            passed_in_turn[previous.id] = await asyncio.to_thread(passes_soon, previous, sandbox)

    assert run_async(catchup.catch_up(sandbox, exercises, report)), reports[-1].message
    total = len(CHAPTER_1)
    assert [(r.state, r.done, r.total, r.exercise) for r in reports] == [
        *(("running", i, total, eid) for i, eid in enumerate(CHAPTER_1)), ("done", total, total, "")]
    assert reports[3].message == f"Catching up: 4 of {total} exercises (fresh-container)"
    assert passed_in_turn == dict.fromkeys(CHAPTER_1, True)
    with Probe(sandbox) as probe:
        failing = {e.id for e in exercises if not evaluate(e.check, probe).passed}
    assert failing == set(SUPERSEDED)


def _exercise(exercise_id: str, solve: str, setup: str = "") -> Exercise:
    return Exercise(exercise_id, exercise_id.replace("-", " ").capitalize(), "", [],
                    checks.parse({"history": "x"}), setup, solve, catalog.get("intro").path, 1)


def test_a_failing_script_stops_the_catch_up_and_says_where(sandbox):
    exercises = [
        _exercise("works", "touch /tmp/catchup-works"),
        _exercise("breaks", "ls /tmp/catchup-works && false", setup="rm -f /tmp/catchup-never"),
        _exercise("never-runs", "touch /tmp/catchup-never"),
    ]
    reports: list[catchup.Report] = []

    async def report(step: catchup.Report) -> None:
        reports.append(step)

    assert not run_async(catchup.catch_up(sandbox, exercises, report))
    assert [(r.state, r.done, r.exercise) for r in reports] == [
        ("running", 0, "works"), ("running", 1, "breaks"), ("failed", 1, "breaks")]
    assert reports[-1].message == ("Catch-up stopped at exercise 2 of 3, “Breaks” (breaks): "
                                   "its solution failed (exit status 1).")
    from sandboxes.backends import get_backend

    assert get_backend().exec(sandbox, ["test", "-e", "/tmp/catchup-never"]).exit_code == 1

    reports.clear()
    exercises[1] = _exercise("bad-setup", "true", setup="exit 3")
    assert not run_async(catchup.catch_up(sandbox, exercises, report))
    assert reports[-1].message == ("Catch-up stopped at exercise 2 of 3, “Bad setup” (bad-setup): "
                                   "its setup script failed (exit status 3).")


@pytest.mark.browser
def test_the_catch_up_button_shows_progress_until_done(server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    number = slide_of(TARGET)
    page.goto(f"{server.url}/courses/intro/#{number}")
    slide = page.locator(f'[data-slide="{number}"]')
    slide.wait_for(state="visible")
    status = page.locator("[data-catchup-status]")
    assert status.is_hidden()

    page.wait_for_selector("#status[data-state=ready]", timeout=60_000)
    wait_for_terminal_line(page, PROMPT)
    # An answered Check means the progress socket has found the sandbox.
    slide.locator(f'[data-exercise="{TARGET}"] [data-check]').click()
    page.wait_for_selector(f'[data-exercise="{TARGET}"][data-status="failed"]', timeout=20_000)

    button = page.locator("[data-catchup-button]")
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    button.click()
    assert "may remove containers and images" in questions[0]
    assert status.is_hidden()  # declined: nothing ran
    page.once("dialog", lambda dialog: dialog.accept())
    button.click()
    page.wait_for_function(
        """() => /^Catching up: \\d+ of 10 exercises \\([a-z-]+\\)$/.test(
             document.querySelector("[data-catchup-text]").textContent)""", timeout=20_000)
    assert status.get_attribute("data-state") == "running"
    assert button.is_disabled()

    page.wait_for_selector("[data-catchup-status][data-state=done]", timeout=180_000)
    assert page.locator("[data-catchup-text]").inner_text() == "Caught up: 10 exercises ran in your sandbox."
    bar = page.locator("progress[data-catchup]")
    assert bar.evaluate("el => [el.value, el.max]") == [10, 10]
    assert button.is_enabled()
    context.close()
