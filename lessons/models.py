"""Each learner's progress on each exercise of a course."""
from django.db import models


class Progress(models.Model):
    PENDING, FAILED, PASSED = "pending", "failed", "passed"

    owner = models.CharField(max_length=64)
    course = models.CharField(max_length=64)
    exercise = models.CharField(max_length=64)
    status = models.CharField(max_length=8, default=PENDING)
    missing = models.JSONField(default=list, blank=True)
    first_passed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    hints_used = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "course", "exercise"], name="one_progress_row")]
        # The player loads one learner's rows of one course at a time.
        indexes = [models.Index(fields=["owner", "course"], name="progress_owner_course")]

    def to_dict(self) -> dict:
        return {"status": self.status, "missing": self.missing, "hints_used": self.hints_used}


class CheckScope(models.Model):
    """What the checker worker checks for a learner: the exercises of one
    course, those of the sections named (empty: every unfinished one), and
    where to report (the learner's room, if any). The learner's page writes
    it; the worker keeps checking after the page closes."""

    owner = models.CharField(max_length=64)
    course = models.CharField(max_length=64)
    sections = models.JSONField(default=list, blank=True)
    room = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "course"], name="one_check_scope")]
