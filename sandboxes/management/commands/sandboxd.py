"""Keep the warm pool full and reap sandboxes, until SIGTERM.

Removes orphans once at start-up, then loops: reap expired, idle, dead and
stuck sandboxes, end the groups (workshops) whose time is over, and refill
the site's pool and every group's.
"""
import logging
import signal
import time

from django.core.management.base import BaseCommand
from django.db import InterfaceError, OperationalError, connections

from sandboxes import lifecycle, pool
from sandboxes.backends import BackendUnavailable

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Keep the warm pool of sandboxes full and reap expired ones."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between rounds")
        parser.add_argument("--once", action="store_true", help="run one round and exit")

    def handle(self, *args, interval: float, once: bool, **options) -> None:
        self.running = True
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        orphans_done = False
        while self.running:
            try:
                if not orphans_done:
                    removed = lifecycle.reap_orphans()
                    orphans_done = True
                    if removed:
                        self.stdout.write(f"removed {len(removed)} orphan sandbox(es)")
                lifecycle.reap()
                pool.end_finished_groups()
                pool.fill()
            except BackendUnavailable as exc:
                log.warning("%s; retrying", exc)
            except (OperationalError, InterfaceError) as exc:
                # The database restarted or dropped the connection: no request
                # cycle closes this long-lived process's connection, so close
                # it here and take a fresh one next round.
                log.warning("database: %s; retrying", exc)
                connections.close_all()
            if once:
                break
            time.sleep(interval)

    def on_signal(self, signum, frame) -> None:
        self.running = False
