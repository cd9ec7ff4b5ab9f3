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
                watched: set[str] | None = None, departed: list[dict] | None = None) -> dict[str, dict]:
    """Evaluate the unfinished exercises the learner is on (watched, or all)
    and the one they asked about, against one probe; return what changed.
    departed: containers that ran and were removed (lessons.engine_watch)."""
    with Probe(handle, departed) as probe:
        return _evaluate(owner, course, probe, explicit, watched)


def _evaluate(owner: str, course: Course, probe: Probe, explicit: str | None,
              watched: set[str] | None) -> dict[str, dict]:
    passed = set(Progress.objects.filter(owner=owner, course=course.slug, status=Progress.PASSED)
                 .values_list("exercise", flat=True))
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
            changed[exercise_id] = record(owner, course.slug, exercise_id, Progress.PASSED, [], attempt)
        elif exercise_id == explicit:
            changed[exercise_id] = record(owner, course.slug, exercise_id, Progress.FAILED, outcome.missing, True)
    if explicit and explicit in passed:
        changed[explicit] = {"status": Progress.PASSED, "missing": []}
    return changed


def record(owner: str, course: str, exercise: str, status: str, missing: list[str], attempt: bool) -> dict:
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


# Which of two rows for the same exercise wins when progress is merged.
RANK = {Progress.PENDING: 0, Progress.FAILED: 1, Progress.PASSED: 2}


def move(old_owner: str, new_owner: str) -> int:
    """Give old_owner's progress to new_owner, so that what a learner did
    before signing up or logging in is kept in their account.

    Rows for the same exercise merge: passed beats failed beats pending, the
    earliest pass is kept, attempts and hints add up. Returns how many of
    old_owner's rows were moved or merged; none of them is left behind.
    """
    if not old_owner or old_owner == new_owner:
        return 0
    with transaction.atomic():
        rows = list(Progress.objects.select_for_update().filter(owner=old_owner))
        targets = {(p.course, p.exercise): p for p in Progress.objects.select_for_update().filter(
            owner=new_owner, course__in={r.course for r in rows})}
        for row in rows:
            target = targets.get((row.course, row.exercise))
            if target is None:
                continue
            if (RANK.get(row.status, 0), row.updated_at) > (RANK.get(target.status, 0), target.updated_at):
                target.status, target.missing = row.status, row.missing
            passes = [t for t in (row.first_passed_at, target.first_passed_at) if t]
            target.first_passed_at = min(passes, default=None)
            target.attempts += row.attempts
            target.hints_used += row.hints_used
            target.save()
        merged = [r.pk for r in rows if (r.course, r.exercise) in targets]
        Progress.objects.filter(pk__in=merged).delete()
        Progress.objects.filter(owner=old_owner).update(owner=new_owner)
    return len(rows)
