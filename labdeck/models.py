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
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.title} ({self.code})"

    def join_path(self) -> str:
        return f"/join/{self.code}/"

    def is_joinable(self) -> bool:
        return self.open and (self.ends_at is None or self.ends_at > timezone.now())


class Learner(models.Model):
    """Someone who joined a workshop with its code and a display name."""

    workshop = models.ForeignKey(Workshop, on_delete=models.CASCADE, related_name="learners")
    display_name = models.CharField(max_length=60)
    # The key that owns this learner's sandbox and progress (sandboxes.owners).
    owner = models.CharField(max_length=64, unique=True, default=new_owner_key)
    joined_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.display_name} in {self.workshop.code}"
