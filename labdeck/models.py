"""The classroom: workshops and the learners who joined them."""
from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

# Easy to read aloud and to type: no 0/O, no 1/I/L.
JOIN_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
JOIN_CODE_LENGTH = 6


def new_join_code() -> str:
    while True:
        code = "".join(secrets.choice(JOIN_ALPHABET) for _ in range(JOIN_CODE_LENGTH))
        if not Workshop.objects.filter(code=code).exists():
            return code


def new_owner_key() -> str:
    return secrets.token_urlsafe(16)


class Workshop(models.Model):
    title = models.CharField(max_length=200)
    course = models.SlugField(max_length=64, help_text="slug of the course, e.g. intro")
    instructor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="workshops")
    code = models.CharField(max_length=16, unique=True, default=new_join_code, editable=False)
    expected_attendees = models.PositiveIntegerField(default=20)
    capacity = models.PositiveIntegerField(default=60)
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True)
    open = models.BooleanField(default=True, help_text="learners may join with the code")
    sections = models.JSONField(default=list, blank=True, help_text="ids of the sections taught; empty: all")
    initial = models.PositiveIntegerField(
        null=True, blank=True, help_text="sandboxes to prepare before the start; empty: expected attendees")
    reserved = models.PositiveIntegerField(default=2, help_text="ready sandboxes kept in reserve for late-comers")
    lead_slide = models.PositiveIntegerField(null=True, blank=True, editable=False)
    ended_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        permissions = [("view_all_workshops", "Can see and run every instructor's workshops")]

    def __str__(self) -> str:
        return f"{self.title} ({self.code})"

    @property
    def pool_group(self) -> str:
        """The group of sandboxes prepared for and used by this workshop."""
        return f"ws-{self.code}"

    @property
    def room(self) -> str:
        """The channel-layer group of its learners' pages (lessons.rooms)."""
        return f"room.{self.code}"

    def initial_sandboxes(self) -> int:
        return min(self.capacity, self.expected_attendees if self.initial is None else self.initial)

    def visible_to(self, user) -> bool:
        """Instructors see their own workshops; some staff see all."""
        return user.is_active and user.is_staff and (
            self.instructor_id == user.pk or user.has_perm("labdeck.view_all_workshops"))

    @classmethod
    def visible(cls, user):
        workshops = cls.objects.all()
        if not user.has_perm("labdeck.view_all_workshops"):
            workshops = workshops.filter(instructor=user)
        return workshops

    def join_path(self) -> str:
        return f"/join/{self.code}/"

    def has_ended(self) -> bool:
        """Ended by the instructor, or its end time has passed."""
        return self.ended_at is not None or (self.ends_at is not None and self.ends_at <= timezone.now())

    def is_joinable(self) -> bool:
        return self.open and self.ended_at is None and (self.ends_at is None or self.ends_at > timezone.now())


class Learner(models.Model):
    """Someone who joined a workshop with its code and a display name."""

    workshop = models.ForeignKey(Workshop, on_delete=models.CASCADE, related_name="learners")
    display_name = models.CharField(max_length=60)
    # The key that owns this learner's sandbox and progress (sandboxes.owners).
    owner = models.CharField(max_length=64, unique=True, default=new_owner_key)
    joined_at = models.DateTimeField(default=timezone.now)
    removed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.display_name} in {self.workshop.code}"
