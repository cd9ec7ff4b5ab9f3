"""The shipped courses in real sandboxes (node sets for the swarm course):
every exercise's check fails after its setup and passes after its solve
script (manage.py lessons test), and every section's run blocks work in order
(manage.py lessons test --blocks). Chapters and sections run two at a time."""
import pytest

from lessons import catalog
from lessons.selftest import run_block_tests, run_exercise_tests

pytestmark = pytest.mark.django_db(transaction=True)


COURSES = ["intro", "swarm"]


@pytest.mark.parametrize("slug", COURSES)
def test_every_exercise_fails_before_and_passes_after_its_solve(backend, slug):
    course = catalog.get(slug)
    log: list[str] = []
    # A swarm converges across machines: its services' tasks start (and a
    # rolling update replaces them) one after the other.
    failures = run_exercise_tests([course], [], timeout=10 if course.nodes == 1 else 90, write=log.append)
    assert not failures, "\n\n".join(failures)
    assert len(log) == len(course.exercises()), log


@pytest.mark.parametrize("slug", COURSES)
def test_the_run_blocks_of_every_section_work_in_order(backend, slug):
    log: list[str] = []
    failures = run_block_tests([catalog.get(slug)], write=log.append)
    assert not failures, "\n\n".join(failures)


def test_no_exercise_passes_in_a_fresh_sandbox(backend):
    """A learner who has done nothing has passed nothing."""
    from lessons.checker import evaluate
    from lessons.probe import Probe

    name = "lessons-fresh"
    backend.create(name, {})
    try:
        backend.wait_ready(name, 60)
        with Probe(name) as probe:
            passed = [eid for eid, e in catalog.get("intro").exercises().items() if evaluate(e.check, probe).passed]
        assert passed == []
    finally:
        backend.destroy(name)
