"""Warm pool, claims, the waiting line and the reaper, against a real engine."""
import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections
from django.utils import timezone

from sandboxes import lifecycle, pool
from sandboxes.models import Sandbox, WaitingLearner
from tests.support import PREFIX, engine, ready_sandbox

pytestmark = pytest.mark.django_db(transaction=True)


def names_on_engine() -> set[str]:
    client = engine()
    return {c.name for c in client.containers.list(all=True, filters={"label": f"org.labdeck.instance={PREFIX}"})}


def test_it_fills_the_pool_with_ready_sandboxes(settings, backend):
    settings.LABDECK_POOL_SIZE = 2
    assert pool.fill() == 2
    ready = list(Sandbox.objects.filter(state=Sandbox.READY))
    assert len(ready) == 2
    for sandbox in ready:
        assert backend.exec(sandbox.handle, ["docker", "info", "--format", "{{.ServerVersion}}"]).exit_code == 0
    assert pool.fill() == 0, "a full pool must not grow"
    for sandbox in ready:
        lifecycle.stop(sandbox, "test")
    assert not names_on_engine() & {s.name for s in ready}


def test_it_never_gives_one_sandbox_to_two_learners(settings, backend):
    """Eight learners race for three ready sandboxes: three win, each a different one."""
    for _ in range(3):
        Sandbox.objects.create(state=Sandbox.READY, ready_at=timezone.now(), handle="x")
    won: list[Sandbox] = []
    errors: list[Exception] = []
    barrier = threading.Barrier(8)

    def race(owner: str) -> None:
        barrier.wait()
        try:
            sandbox = pool.claim(owner)
            if sandbox:
                won.append(sandbox)
        except Exception as exc:  # a lost race must lose quietly, not fail
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=race, args=(f"learner-{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(won) == 3
    assert len({s.pk for s in won}) == 3
    assert {s.owner for s in Sandbox.objects.filter(state=Sandbox.ASSIGNED)} == {s.owner for s in won}


def test_it_puts_learners_in_line_when_capacity_is_used_up(settings, backend):
    settings.LABDECK_MAX_SANDBOXES = 1
    assert pool.place("first").state == "starting", "the keeper starts it; nobody waits for the engine"
    first = ready_sandbox("first")
    assert first.state == "ready"
    second, third = pool.place("second"), pool.place("third")
    assert (second.state, second.position) == ("queued", 1)
    assert (third.state, third.position) == ("queued", 2)
    assert "number 2 in line" in third.message
    assert pool.place("third").position == 2, "asking again keeps one's place"

    pool.release("first")
    assert Sandbox.objects.get(owner="first").state == Sandbox.STOPPING, "marked for the keeper"
    assert pool.place("third").state == "queued"
    lifecycle.reap()  # what the keeper does
    assert pool.place("third").state == "queued", "the line is served in order"
    served = ready_sandbox("second")
    assert served.state == "ready" and served.sandbox.owner == "second"
    assert not WaitingLearner.objects.filter(owner="second").exists()
    assert pool.place("third").position == 1
    pool.release("second")
    lifecycle.reap()


def test_it_says_the_host_is_unavailable_when_the_engine_is_dead(settings):
    from sandboxes.backends import get_backend

    settings.LABDECK_DOCKER_HOST = "unix:///run/labdeck-no-such-engine.sock"
    get_backend.cache_clear()
    try:
        placement = pool.safe_place("someone")
    finally:
        get_backend.cache_clear()
    assert placement.state == "unavailable"
    assert "sandbox host is unavailable" in placement.message
    assert not Sandbox.objects.filter(state__in=Sandbox.LIVE).exists()


def test_it_reaps_orphans_and_expired_sandboxes(settings, backend):
    orphan = backend.create("labdeck-test-orphan", {})
    assert orphan in names_on_engine()
    idle = ready_sandbox("idle-learner").sandbox
    Sandbox.objects.filter(pk=idle.pk).update(last_seen=timezone.now() - timedelta(hours=2))
    settings.LABDECK_SANDBOX_IDLE = 3600

    assert lifecycle.reap_orphans() == [orphan]
    assert lifecycle.reap() == [idle.name]
    idle.refresh_from_db()
    assert (idle.state, idle.reason) == (Sandbox.GONE, "it was idle for 1 hour")
    left = names_on_engine()
    assert orphan not in left and idle.name not in left


def test_it_marks_a_sandbox_that_died_on_the_worker(backend):
    sandbox = ready_sandbox("learner").sandbox
    engine().containers.get(sandbox.handle).kill()
    assert lifecycle.reap() == [sandbox.name]
    sandbox.refresh_from_db()
    assert sandbox.reason == "it was stopped on its host (exited (137))"


def test_a_sandbox_counts_as_stuck_from_when_its_start_began_not_from_its_place_in_line(settings):
    """A full room waits in line for minutes: that wait is not a failed start."""
    settings.LABDECK_READY_TIMEOUT = 60
    long_ago, now = timezone.now() - timedelta(minutes=10), timezone.now()
    in_line = Sandbox.objects.create(owner="waiting", created_at=long_ago)
    just_begun = Sandbox.objects.create(owner="booting", created_at=long_ago, handle="b",
                                        started_at=now - timedelta(seconds=10))
    hung = Sandbox.objects.create(owner="hung", created_at=long_ago, handle="h",
                                  started_at=now - timedelta(minutes=3))
    due = {sandbox.pk: reason for sandbox, reason in lifecycle.due(now)}
    assert in_line.pk not in due and just_begun.pk not in due
    assert due[hung.pk] == "it did not start"


def test_a_reason_found_in_one_state_does_not_stop_a_sandbox_that_has_moved_on(backend):
    """The keeper read a row as starting too long; its start finished and
    the learner got it before the stop came round: the learner keeps it."""
    from sandboxes.management.commands.sandboxd import _stop

    sandbox = ready_sandbox("learner").sandbox
    seen = Sandbox.objects.get(pk=sandbox.pk)
    seen.state = Sandbox.STARTING  # as due() read it, a moment earlier
    _stop(seen, "it did not start")
    sandbox.refresh_from_db()
    assert sandbox.state == Sandbox.ASSIGNED and sandbox.reason == ""
    assert sandbox.name in names_on_engine()
    lifecycle.stop(sandbox, "test")
