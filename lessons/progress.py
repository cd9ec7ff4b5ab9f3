"""Check rounds: one probe of the sandbox, every exercise not yet passed.

A passed exercise stays passed: the learner may well clean up afterwards.
An explicit Check that fails marks the exercise failed and says what is
missing; automatic rounds leave unfinished exercises pending.
"""
from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from lessons.checker import evaluate
from lessons.course import Course
from lessons.models import Progress
from lessons.probe import Probe, ProbeError
from sandboxes.backends import BackendUnavailable, SandboxError

log = logging.getLogger(__name__)


def state(owner: str, course: Course) -> dict[str, dict]:
    """Every exercise of the course with the learner's status."""
    rows = {p.exercise: p for p in Progress.objects.filter(owner=owner, course=course.slug)}
    return {eid: (rows[eid].to_dict() if eid in rows else {"status": Progress.PENDING, "missing": []})
            for eid in course.exercises()}


def check_round(owner: str, course: Course, handle: str, explicit: str | None = None,
                watched: set[str] | None = None) -> dict[str, dict]:
    """Evaluate the unfinished exercises the learner is on (watched, or all)
    and the one they asked about, against one probe; return what changed."""
    passed = set(Progress.objects.filter(owner=owner, course=course.slug, status=Progress.PASSED)
                 .values_list("exercise", flat=True))
    probe = Probe(handle)
    changed: dict[str, dict] = {}
    for exercise_id, exercise in course.exercises().items():
        if exercise_id in passed or (watched is not None and exercise_id not in watched and exercise_id != explicit):
            continue
        try:
            outcome = evaluate(exercise.check, probe)
        except (ProbeError, SandboxError, BackendUnavailable) as exc:
            log.info("check round for %s stopped: %s", owner, exc)
            break
        if outcome.passed:
            attempt = exercise_id == explicit
            changed[exercise_id] = _record(owner, course.slug, exercise_id, Progress.PASSED, [], attempt)
        elif exercise_id == explicit:
            changed[exercise_id] = _record(owner, course.slug, exercise_id, Progress.FAILED, outcome.missing, True)
    if explicit and explicit in passed:
        changed[explicit] = {"status": Progress.PASSED, "missing": []}
    return changed


def _record(owner: str, course: str, exercise: str, status: str, missing: list[str], attempt: bool) -> dict:
    with transaction.atomic():
        row, _ = Progress.objects.get_or_create(owner=owner, course=course, exercise=exercise)
        row.status, row.missing = status, missing
        if attempt:
            row.attempts += 1
        if status == Progress.PASSED and row.first_passed_at is None:
            row.first_passed_at = timezone.now()
        row.save()
    return row.to_dict()


def hint_used(owner: str, course: Course, exercise: str) -> None:
    if exercise not in course.exercises():
        return
    row, _ = Progress.objects.get_or_create(owner=owner, course=course.slug, exercise=exercise)
    Progress.objects.filter(pk=row.pk).update(hints_used=F("hints_used") + 1)
