"""Every exercise of the shipped course, in real sandboxes: after its setup
the check fails, after its solve script it passes (manage.py lessons test)."""
import pytest

from lessons import catalog
from lessons.selftest import run_exercise_tests

pytestmark = pytest.mark.django_db(transaction=True)


def chapters():
    course = catalog.get("intro")
    return [pytest.param(chapter, id=chapter.title) for chapter in course.chapters]


@pytest.mark.parametrize("chapter", chapters())
def test_every_exercise_of_the_chapter(chapter, backend):
    course = catalog.get("intro")
    ids = [e.id for s in chapter.sections for slide in s.slides for e in slide.exercises]
    if not ids:
        pytest.skip("no exercise in this chapter")
    log: list[str] = []
    failures = run_exercise_tests([course], ids, timeout=10, write=log.append)
    assert not failures, "\n".join(failures)
    assert len(log) == len(ids)


def test_no_exercise_passes_in_a_fresh_sandbox(backend):
    """A learner who has done nothing has passed nothing."""
    from lessons.checker import evaluate
    from lessons.probe import Probe

    name = "lessons-fresh"
    backend.create(name, {})
    try:
        backend.wait_ready(name, 60)
        probe = Probe(name)
        passed = [eid for eid, e in catalog.get("intro").exercises().items() if evaluate(e.check, probe).passed]
        assert passed == []
    finally:
        backend.destroy(name)


def sections():
    return [pytest.param(section, id=section.path.stem) for section in catalog.get("intro").sections()]


@pytest.mark.parametrize("section", sections())
def test_the_run_blocks_of_the_section_work_in_order(section, backend):
    """Every "run" block of a section, typed in order into a fresh sandbox,
    succeeds (blocks marked interactive or online are left out)."""
    from lessons.selftest import _run_blocks

    failures = _run_blocks(section, lambda line: None)
    assert not failures, "\n".join(failures)
