"""Running a workshop: its pool of sandboxes, its end, and what the
instructor's dashboard shows of it.

The dashboard's picture of the room is built here from the database (the
snapshot); live changes then arrive as room events (lessons.rooms).
"""
from __future__ import annotations

import csv
import io
from datetime import timedelta

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from labdeck.models import Learner, Workshop
from lessons import catalog
from lessons.course import Course
from lessons.models import Progress
from sandboxes import pool
from sandboxes.models import PoolTarget, Sandbox, WaitingLearner


def sync_pool(workshop: Workshop) -> None:
    """Ask the pool keeper for the workshop's sandboxes: from the warm-up
    lead before the start until the end."""
    if workshop.ended_at:
        return
    course = catalog.get(workshop.course)
    PoolTarget.objects.update_or_create(group=workshop.pool_group, defaults={
        "nodes": course.nodes if course else 1,
        "initial": workshop.initial_sandboxes(),
        "reserved": min(workshop.reserved, workshop.capacity),
        "limit": workshop.capacity,
        "active_from": workshop.starts_at - timedelta(seconds=settings.LABDECK_WARMUP_LEAD),
        "active_until": workshop.ends_at,
    })


def warm_up_now(workshop: Workshop) -> None:
    sync_pool(workshop)
    PoolTarget.objects.filter(group=workshop.pool_group, active_from__gt=timezone.now()).update(
        active_from=timezone.now())


def end(workshop: Workshop) -> int:
    """Close the workshop and reap its sandboxes; progress stays."""
    Workshop.objects.filter(pk=workshop.pk).update(ended_at=timezone.now(), open=False, lead_slide=None)
    workshop.refresh_from_db()
    return pool.end_group(workshop.pool_group)


def warmup(workshop: Workshop) -> dict[str, int]:
    counts = pool.group_counts(workshop.pool_group)
    counts["initial"] = workshop.initial_sandboxes()
    counts["queued"] = WaitingLearner.objects.filter(group=workshop.pool_group).count()
    return counts


def exercises(workshop: Workshop, course: Course) -> list[dict]:
    """The workshop's exercises in course order, with where they are taught."""
    chosen = set(workshop.sections)
    rows = []
    for section in course.sections():
        if chosen and section.id not in chosen:
            continue
        numbers = [slide.number for slide in section.slides]
        for slide in section.slides:
            for exercise in slide.exercises:
                rows.append({
                    "id": exercise.id, "title": exercise.title, "section": section.id,
                    "section_title": section.title, "first_slide": min(numbers), "last_slide": max(numbers),
                })
    return rows


def workshop_dict(workshop: Workshop) -> dict:
    return {
        "code": workshop.code, "title": workshop.title, "course": workshop.course, "open": workshop.is_joinable(),
        "ended": workshop.has_ended(), "lead_slide": workshop.lead_slide,
        "stuck_after": settings.LABDECK_STUCK_AFTER,
    }


def _sandbox(owner: str, sandboxes: dict[str, Sandbox], waiting: set[str], stopped: dict[str, str]) -> dict:
    sandbox = sandboxes.get(owner)
    if sandbox is not None:
        state = "ready" if sandbox.state == Sandbox.ASSIGNED else "starting"
        return {"state": state, "expires_at": sandbox.expires_at.isoformat() if sandbox.expires_at else None}
    if owner in waiting:
        return {"state": "queued", "expires_at": None}
    if owner in stopped:  # why their last one stopped, as the learner was told
        return {"state": "stopped", "reason": stopped[owner], "expires_at": None}
    return {"state": "none", "expires_at": None}


def _last_stopped(owners: list[str], workshop: Workshop) -> dict[str, str]:
    """owner -> why their latest sandbox of this workshop stopped."""
    rows = Sandbox.objects.filter(owner__in=owners, group=workshop.pool_group, state=Sandbox.GONE) \
        .order_by("owner", "-stopped_at").values_list("owner", "reason")
    stopped: dict[str, str] = {}
    for owner, reason in rows:
        stopped.setdefault(owner, reason)
    return stopped


def learner_dicts(workshop: Workshop, learners: list[Learner]) -> list[dict]:
    """What the dashboard shows of each learner (connected and slide come
    live from their pages)."""
    owners = [learner.owner for learner in learners]
    progress: dict[str, list[Progress]] = {}
    for row in Progress.objects.filter(owner__in=owners, course=workshop.course):
        progress.setdefault(row.owner, []).append(row)
    last = dict(Progress.objects.filter(owner__in=owners, course=workshop.course, first_passed_at__isnull=False)
                .values_list("owner").annotate(Max("first_passed_at")))
    sandboxes = {s.owner: s for s in Sandbox.objects.filter(
        owner__in=owners, state__in=(Sandbox.STARTING, Sandbox.ASSIGNED))}
    waiting = set(WaitingLearner.objects.filter(owner__in=owners).values_list("owner", flat=True))
    stopped = _last_stopped([o for o in owners if o not in sandboxes and o not in waiting], workshop)
    return [{
        "id": learner.pk, "name": learner.display_name, "joined_at": learner.joined_at.isoformat(),
        "connected": False, "slide": None,
        "last_progress": last[learner.owner].isoformat() if learner.owner in last else None,
        "exercises": {row.exercise: row.status for row in progress.get(learner.owner, [])},
        "hints": {row.exercise: row.hints_used for row in progress.get(learner.owner, []) if row.hints_used},
        "sandbox": _sandbox(learner.owner, sandboxes, waiting, stopped),
        "commands": [],
    } for learner in learners]


def active_learners(workshop: Workshop) -> list[Learner]:
    return list(workshop.learners.filter(removed_at__isnull=True).order_by("joined_at"))


def snapshot(workshop: Workshop) -> dict:
    """The whole room as the dashboard draws it when it (re)connects."""
    course = catalog.get(workshop.course)
    return {
        "type": "snapshot",
        "workshop": workshop_dict(workshop),
        "exercises": exercises(workshop, course) if course else [],
        "learners": learner_dicts(workshop, active_learners(workshop)),
        "warmup": warmup(workshop),
        "now": timezone.now().isoformat(),
    }


def progress_csv(workshop: Workshop) -> str:
    """One row per learner: name, joined, then each exercise's status and
    when it was first passed."""
    course = catalog.get(workshop.course)
    ids = [e["id"] for e in exercises(workshop, course)] if course else []
    learners = list(workshop.learners.order_by("joined_at"))
    rows = {(p.owner, p.exercise): p for p in Progress.objects.filter(
        owner__in=[learner.owner for learner in learners], course=workshop.course)}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["learner", "joined_at", "removed", "passed", *ids, *(f"{i} passed_at" for i in ids)])
    for learner in learners:
        statuses, times = [], []
        for eid in ids:
            row = rows.get((learner.owner, eid))
            statuses.append(row.status if row else Progress.PENDING)
            times.append(row.first_passed_at.isoformat() if row and row.first_passed_at else "")
        writer.writerow([_cell(learner.display_name), learner.joined_at.isoformat(),
                         "yes" if learner.removed_at else "", statuses.count(Progress.PASSED), *statuses, *times])
    return out.getvalue()


def _cell(text: str) -> str:
    """Keep a spreadsheet from reading a display name as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
