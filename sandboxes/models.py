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
    # The sandbox host it runs on ("" with a single engine): chosen when the
    # row is made, so that placement follows what each host holds.
    host = models.CharField(max_length=32, blank=True, db_index=True)
    state = models.CharField(max_length=16, choices=STATES, default=STARTING)
    owner = models.CharField(max_length=64, blank=True, db_index=True)
    # The pool this sandbox belongs to: "" for the site's, or a workshop's
    # (the classroom names it), so that its warm-up and end act on its own.
    group = models.CharField(max_length=64, blank=True, db_index=True)
    # How many machines (node1 … nodeN, each with its own engine) it has:
    # a course or a workshop may ask for several; each counts against capacity.
    nodes = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    # When the keeper began to start it: a learner's row may wait in line
    # (created, not started) for minutes before that in a full room.
    started_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    # Set when the keeper could not start it, until the learner's page is told.
    start_failed = models.BooleanField(default=False)
    # What the learner's pages are still to be told of it (sandboxes.tell).
    notice = models.CharField(max_length=16, blank=True, db_index=True)

    class Meta:
        indexes = [
            # Claiming takes the oldest ready sandbox of the pool.
            models.Index(fields=["state", "ready_at"], name="sandbox_state_ready"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"

    def terminal_url(self, node: int = 1) -> str:
        return f"/ws/terminal/{self.public_id}/" + (f"node{node}/" if node > 1 else "")

    def to_dict(self) -> dict:
        return {
            "sandbox": str(self.public_id),
            "state": self.state,
            "terminal_url": self.terminal_url(),
            "nodes": [{"name": f"node{node}", "terminal_url": self.terminal_url(node)}
                      for node in range(1, self.nodes + 1)],
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


class WaitingLearner(models.Model):
    """A learner in line for a sandbox while capacity is used up."""

    owner = models.CharField(max_length=64, unique=True)
    group = models.CharField(max_length=64, blank=True)
    joined_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_poll = models.DateTimeField(default=timezone.now)

    def position(self) -> int:
        return WaitingLearner.objects.filter(group=self.group, joined_at__lt=self.joined_at).count() + 1


class PoolTarget(models.Model):
    """A group's own pool, as the classroom asks for it (Educates' `initial`
    and `reserved`): from `active_from`, start sandboxes until `initial` exist
    and keep `reserved` unclaimed ones ready, never more than `limit` live;
    at `active_until` the group's sandboxes are reaped."""

    group = models.CharField(max_length=64, unique=True)
    # Machines per learner (the workshop's course may ask for a node set).
    nodes = models.PositiveSmallIntegerField(default=1)
    initial = models.PositiveIntegerField(default=0)
    reserved = models.PositiveIntegerField(default=0)
    limit = models.PositiveIntegerField(default=0, help_text="0: no limit of its own")
    active_from = models.DateTimeField(default=timezone.now)
    active_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"pool {self.group}: {self.initial} initial, {self.reserved} reserved"

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.active_from <= now and (self.active_until is None or now < self.active_until)


class SandboxHost(models.Model):
    """What the pool keeper last saw of a sandbox host (LABDECK_SANDBOX_HOSTS):
    new sandboxes go to hosts that answer, and the sandboxes of a host that
    has not answered for LABDECK_HOST_LOST_AFTER seconds are given up."""

    name = models.CharField(max_length=32, unique=True)
    down_since = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({'down' if self.down_since else 'up'})"
