"""The pool keeper: all the slow work on the sandbox engine, until SIGTERM.

Removes orphans once at start-up, then loops. Every PENDING_EVERY seconds it
starts the sandboxes learners asked for (`starting` rows, which the web
processes only write). Every round (--interval) it reaps sandboxes that are
marked `stopping` (a reset, an End), expired, idle, dead or stuck (a
learner's is explained to them), starts again those whose host restarted, ends the
groups (workshops) whose time is over, and refills the site's pool and every
group's. Starts and removals run in threads of their own, so that a workshop
of 60 ending or warming up never keeps a learner waiting for their sandbox.
"""
import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand
from django.db import InterfaceError, OperationalError, close_old_connections, connections

from sandboxes import lifecycle, pool, tell
from sandboxes.backends import BackendUnavailable, SandboxError
from sandboxes.backends.base import HOST_RESTARTED
from sandboxes.models import Sandbox

log = logging.getLogger(__name__)

PENDING_EVERY = 0.05


class Keeper:
    """Runs one piece of work per sandbox at a time, in threads."""

    def __init__(self, threads: int):
        self.threads = ThreadPoolExecutor(threads, thread_name_prefix="keeper")
        self.busy: set[int] = set()
        self.lock = threading.Lock()

    def submit(self, sandbox: Sandbox, work, *args) -> None:
        with self.lock:
            if sandbox.pk in self.busy:
                return
            self.busy.add(sandbox.pk)
        self.threads.submit(self._run, sandbox, work, *args)

    def _run(self, sandbox: Sandbox, work, *args) -> None:
        try:
            work(sandbox, *args)
        except (SandboxError, BackendUnavailable) as exc:
            log.warning("sandbox %s: %s", sandbox.name, exc)
        except Exception:
            log.exception("sandbox %s", sandbox.name)
        finally:
            close_old_connections()
            with self.lock:
                self.busy.discard(sandbox.pk)

    def start(self, sandbox: Sandbox) -> None:
        self.submit(sandbox, _start)

    def stop(self, sandbox: Sandbox, reason: str) -> None:
        self.submit(sandbox, _stop, reason)

    def revive(self, sandbox: Sandbox) -> None:
        self.submit(sandbox, _revive)


def _start(sandbox: Sandbox) -> None:
    lifecycle.start(sandbox)
    if sandbox.owner and sandbox.state == Sandbox.ASSIGNED:
        async_to_sync(tell.assigned)(sandbox.owner)


def _stop(sandbox: Sandbox, reason: str) -> None:
    """Stop it, if it is still in the state the reason was found in (the
    row may have moved on since due() read it: a start that finished
    meanwhile, say); a learner's sandbox that stops without being asked to
    (a reset or an End mark it `stopping` first) is explained to them."""
    unasked = sandbox.state == Sandbox.ASSIGNED
    if lifecycle.stop(sandbox, reason, only_from=(sandbox.state,)) and unasked:
        tell.note(sandbox, tell.LOST)


def _revive(sandbox: Sandbox) -> None:
    tell.note(sandbox, tell.REVIVED if lifecycle.revive(sandbox) else tell.LOST)


class Command(BaseCommand):
    help = "Keep the warm pool of sandboxes full, start the ones learners ask for, and reap."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between reaping rounds")
        parser.add_argument("--threads", type=int, default=4, help="sandboxes started or removed at once")
        parser.add_argument("--once", action="store_true", help="run one round and exit")

    def handle(self, *args, interval: float, threads: int, once: bool, **options) -> None:
        self.running = True
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        keeper = Keeper(threads)
        orphans_done = False
        next_round = 0.0
        while self.running:
            try:
                for sandbox in lifecycle.pending():
                    keeper.start(sandbox)
                if time.monotonic() >= next_round:
                    next_round = time.monotonic() + interval
                    if not orphans_done:
                        removed = lifecycle.reap_orphans()
                        orphans_done = True
                        if removed:
                            self.stdout.write(f"removed {len(removed)} orphan sandbox(es)")
                    for sandbox in lifecycle.check_hosts():
                        tell.note(sandbox, tell.LOST)
                    for sandbox, reason in lifecycle.due():
                        if reason == HOST_RESTARTED:
                            keeper.revive(sandbox)
                        else:
                            keeper.stop(sandbox, reason)
                    pool.end_finished_groups()
                    pool.fill(keeper.start)
            except BackendUnavailable as exc:
                log.warning("%s; retrying", exc)
            except (OperationalError, InterfaceError) as exc:
                # The database restarted or dropped the connection: no request
                # cycle closes this long-lived process's connection, so close
                # it here and take a fresh one next round.
                log.warning("database: %s; retrying", exc)
                connections.close_all()
            finally:
                close_old_connections()
            if once:
                break
            time.sleep(PENDING_EVERY)
        keeper.threads.shutdown(wait=once)

    def on_signal(self, signum, frame) -> None:
        self.running = False
