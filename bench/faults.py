"""Faults under a room of learners: a part of Labdeck stops and starts again
while every learner has a terminal open (a variable set in their shell, a
container of theirs running) and progress rows written. A row per fault:

- time until every affected learner is back at a prompt (p95), counted from
  the moment the part is back (it answers again);
- shells lost (the variable is gone): 0 is the target for engine and web
  process restarts; a host reboot kills every process, so its shells are new
  by nature, and what counts there is that the sandboxes come back;
- progress rows lost: 0 is the target for every fault.

The engine faults run on an engine of the bench's own (tests/engines.py),
with the embedded layout; Redis, PostgreSQL and a web process on the
production layout.
"""
from __future__ import annotations

import asyncio
import secrets
import sqlite3
import subprocess
import time
from collections.abc import Callable

from bench.common import Options, Result, Row, fmt_s, percentile
from bench.streams import LabdeckTerm
from tests.engines import Engine
from tests.production import ProductionLayout
from tests.support import Learner, LiveServer

BACK_WITHIN = 180.0


class Seat:
    """One learner: a ready sandbox, an open terminal, a mark in its shell."""

    def __init__(self, server, learner: Learner, info: dict):
        self.server, self.learner, self.info = server, learner, info
        self.mark = secrets.token_hex(4)
        self.term: LabdeckTerm | None = None

    async def open(self) -> None:
        self.term = await LabdeckTerm.open(self.server, self.learner, self.info)
        await self.term.prompt(timeout=60)
        await self.term.write(f"export BENCH_MARK={self.mark}; docker run -d busybox sleep 3600 >/dev/null; "
                              "docker run busybox echo hello world\r".encode())
        await self.term.read_until(b"hello world", timeout=120)
        await self.term.drain(0.3)

    async def back(self, since: float, reconnect: bool) -> tuple[float, bool]:
        """Ask the shell for the mark until it answers (reconnecting, as the
        page does, when the socket closed); (seconds since `since`, the
        same shell)."""
        while time.monotonic() - since < BACK_WITHIN:
            try:
                if reconnect:
                    self.term = await LabdeckTerm.open(self.server, self.learner, self.info)
                # Ctrl-U, not Ctrl-C: bash eats the keys typed right after a SIGINT.
                await self.term.write(b"\x15echo back-$BENCH_MARK-$((1+1))\r")
                seen = await self.term.read_until(b"back-", b"-2", timeout=3)
                return time.monotonic() - since, f"back-{self.mark}-2".encode() in seen
            except (TimeoutError, EOFError, OSError, Exception):
                reconnect = reconnect or self.term is None or self.term.ws.close_code is not None
                await asyncio.sleep(0.25)
        return float("inf"), False

    async def close(self) -> None:
        if self.term is not None:
            await self.term.close()


def seats(server, count: int) -> list[Seat]:
    learners = [Learner(server) for _ in range(count)]
    ready = []
    for learner in learners:
        info = learner.start(timeout=300)
        if info["state"] != "ready":
            raise RuntimeError(f"no sandbox: {info}")
        ready.append(Seat(server, learner, info))
    return ready


def fault_rows(name: str, results: list[tuple[float, bool]], rows_lost: int, shells_target: bool) -> list[Row]:
    times = [t for t, _ in results]
    lost = sum(1 for t, same in results if not same)
    back = percentile(times, 95)
    rows = [Row(f"{name}: learners back at a prompt (p95, N={len(results)})", fmt_s(back),
                f"≤ {BACK_WITHIN:.0f} s", back <= BACK_WITHIN)]
    if shells_target:
        rows.append(Row(f"{name}: shells lost", str(lost), "0", lost == 0))
    else:
        rows.append(Row(f"{name}: shells started afresh (the reboot killed them)", str(lost)))
    rows.append(Row(f"{name}: progress rows lost", str(rows_lost), "0", rows_lost == 0))
    return rows


async def measure(room: list[Seat], fault) -> list[tuple[float, bool]]:
    """Run the fault (blocking, in a thread: it returns once the part is back)
    and time every learner's way back."""
    await asyncio.to_thread(fault)
    since = time.monotonic()
    return list(await asyncio.gather(*(seat.back(since, reconnect=False) for seat in room)))


Fault = tuple[str, Callable[[], None], bool]  # its name, the blocking action, whether shells must survive it


def through_faults(room: list[Seat], progress_rows: Callable[[], int], faults: list[Fault]) -> tuple[list[Row], dict]:
    """Open every seat, let the checker write progress, then run each fault in turn."""

    async def go() -> dict:
        await asyncio.gather(*(seat.open() for seat in room))
        # The pages: their progress sockets say which course, so that the checker writes rows.
        pages = [seat.learner.progress_socket() for seat in room]
        await asyncio.sleep(5)
        for page in pages:
            page.close()
        out = {"rows_before": progress_rows()}
        for name, action, _ in faults:
            out[name] = {"back": await measure(room, action), "rows_after": progress_rows()}
        for seat in room:
            await seat.close()
        return out

    out = asyncio.run(go())
    rows = []
    for name, _, shells_target in faults:
        lost = max(0, out["rows_before"] - out[name]["rows_after"])
        rows += fault_rows(name, out[name]["back"], lost, shells_target)
    return rows, out


# -- the engine (embedded layout) ---------------------------------------------------


def engine_faults(count: int) -> tuple[list[Row], dict]:
    engine = Engine(f"b{secrets.token_hex(2)}")
    server = None
    try:
        engine.load_sandbox_image()
        server = LiveServer(LABDECK_DOCKER_HOST=engine.socket, DOCKER_HOST=engine.socket,
                            LABDECK_SANDBOX_NETWORK="labdeck-bench-faults", LABDECK_SANDBOX_SUBNET="10.216.0.0/16",
                            LABDECK_MAX_SANDBOXES=str(count + 2))

        def progress_rows() -> int:
            with sqlite3.connect(f"{server.dir}/db.sqlite3", timeout=20) as db:
                return db.execute("SELECT count(*) FROM lessons_progress").fetchone()[0]

        def restart() -> None:
            engine.stop()
            time.sleep(4)
            engine.start()

        def reboot() -> None:
            engine.crash()
            time.sleep(1)
            engine.start()

        return through_faults(seats(server, count), progress_rows, [
            ("Sandbox engine restarted (SIGTERM, 4 s down)", restart, True),
            ("Host rebooted (every engine process killed at once)", reboot, False),
        ])
    finally:
        if server is not None:
            server.stop()
        engine.close()


# -- Redis, PostgreSQL, a web process (production layout) ------------------------------


def layout_faults(count: int) -> tuple[list[Row], dict]:
    layout = ProductionLayout(LABDECK_MAX_SANDBOXES=str(count + 2), LABDECK_POOL_SIZE="0")
    try:
        def progress_rows() -> int:
            return int(layout.psql("SELECT count(*) FROM lessons_progress"))

        def redis() -> None:
            layout.ctl("stop", "redis")
            time.sleep(4)
            layout.ctl("start", "redis")

        def postgres() -> None:
            subprocess.run(["pg_ctlcluster", "15", "main", "stop", "-m", "fast"], check=True)
            time.sleep(4)
            subprocess.run(["pg_ctlcluster", "15", "main", "start"], check=True)

        return through_faults(seats(layout, count), progress_rows, [
            ("Redis restarted (4 s down)", redis, True),
            ("PostgreSQL restarted (4 s down)", postgres, True),
            ("A web process restarted (SIGTERM)", lambda: layout.restart_web(0), True),
        ])
    finally:
        layout.stop()


def run(opts: Options) -> Result:
    count = opts.pick(20, 4)
    engine_rows, engine_raw = engine_faults(count)
    layout_rows, layout_raw = layout_faults(count)
    res = Result(rows=engine_rows + layout_rows, raw={"engine": engine_raw, "layout": layout_raw})
    res.notes.append(
        f"Faults: {count} learners, each with a terminal open, a container running and progress written; "
        "back at a prompt means their shell answered a command, counted from when the part answered again.")
    return res
