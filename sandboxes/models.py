"""Sandboxes and the line of learners waiting for one.

A row is the platform's memory of a sandbox: a restart finds what runs,
and the reaper compares rows with what the backend reports.
"""
from __future__ import annotations

import secrets
import uuid

from django.db import models
from django.utils import timezone


def new_name() -> str:
    return f"sb-{secrets.token_hex(6)}"


class Sandbox(models.Model):
    STARTING = "starting"
    READY = "ready"
    ASSIGNED = "assigned"
    STOPPING = "stopping"
    GONE = "gone"
    STATES = [(s, s) for s in (STARTING, READY, ASSIGNED, STOPPING, GONE)]
    LIVE = (STARTING, READY, ASSIGNED, STOPPING)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=64, unique=True, default=new_name)
    handle = models.CharField(max_length=128, blank=True)
    state = models.CharField(max_length=16, choices=STATES, default=STARTING)
    owner = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    ready_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [
            # Claiming takes the oldest ready sandbox of the pool.
            models.Index(fields=["state", "ready_at"], name="sandbox_state_ready"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"

    def to_dict(self) -> dict:
        return {
            "sandbox": str(self.public_id),
            "state": self.state,
            "terminal_url": f"/ws/terminal/{self.public_id}/",
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


class WaitingLearner(models.Model):
    """A learner in line for a sandbox while capacity is used up."""

    owner = models.CharField(max_length=64, unique=True)
    joined_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_poll = models.DateTimeField(default=timezone.now)

    def position(self) -> int:
        return WaitingLearner.objects.filter(joined_at__lt=self.joined_at).count() + 1
