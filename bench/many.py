"""A room of many learners, on the production layout (two web processes
behind nginx, PostgreSQL, Redis, the keeper, the checker worker): each has a
real sandbox and a real terminal through nginx, and types.

1. Typing: every terminal types one key at a time at about 5 keys a second
   (at random moments); every key's echo is timed. Memory per open terminal
   (the web processes' RSS growth over the terminals they hold) and CPU per
   web process are read meanwhile.
2. A web process killed (SIGKILL) mid-load: its terminals reconnect through
   nginx, as the page does; how long until each is back at its prompt, and
   whether it is the same shell (a variable set before the kill).
3. Checks: every learner's page (a progress socket) says which course and
   slide (the hello-world one, as the player page does); then
   every shell runs a command at once, and the worker's rounds per second
   over that burst are its pace; at half that pace, learners run
   `docker run busybox echo hello world`, and the time from its output
   reaching the terminal until their page shows the exercise passed is
   timed (as bench/checker.py does).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import secrets
import time
from collections import Counter

import psutil
from websockets.asyncio.client import connect

from bench.common import Options, Result, Row, first_slide_of, fmt_ms, fmt_s, meminfo, percentile
from bench.streams import LabdeckTerm
from tests.production import ProductionLayout
from tests.support import Learner

KEY_RATE = 5.0
TYPING_SECONDS = 60
TARGET_PASSED_P95 = 1.0
# What the page does when its terminal closes (static/js/terminal.js).
REFUSED_CODES = {4001, 4400, 4403, 4404, 4410}
BACKOFF_MIN, BACKOFF_MAX = 0.25, 5.0


def learners_ready(layout, count: int, failures: list[str]) -> list[tuple[Learner, dict]]:
    """count learners, each with a ready sandbox (asked for all at once). A
    start that fails, or an answer that is not Labdeck's, is asked for
    again, as the page does; why each failed is added to failures."""
    learners = [Learner(layout) for _ in range(count)]
    pending = {i: None for i in range(count)}
    deadline = time.monotonic() + 1800
    while pending and time.monotonic() < deadline:
        for i in list(pending):
            learner = learners[i]
            response = learner.http.post(layout.url + "/sandbox/start",
                                         headers={"X-CSRFToken": learner.http.cookies.get("csrftoken", "")})
            try:
                info = response.json()
            except ValueError:  # not Labdeck's answer (nginx's 502, say): the page retries, so do we
                failures.append(f"POST /sandbox/start answered HTTP {response.status_code}, not JSON: "
                                f"{response.text[:80]!r}")
                continue
            if info["state"] == "ready":
                pending.pop(i)
                learner.info = info
            elif info["state"] == "failed":
                failures.append(info.get("message", ""))
            elif info["state"] not in ("starting", "queued"):
                raise RuntimeError(f"learner {i}: {info}")
        print(f"  sandboxes ready: {count - len(pending)}/{count}", flush=True)
        if len(failures) > count // 10:
            raise RuntimeError(f"{len(failures)} starts failed; the last: {failures[-1]}")
        time.sleep(2)
    if pending:
        raise RuntimeError(f"{len(pending)} sandboxes not ready")
    return [(learner, learner.info) for learner in learners]


def diagnosis(layout) -> str:
    """What the layout says of a failed run, before it is removed: the
    sandboxes that stopped and why, and the keeper's last words. Never
    raises: the run's own error is what matters."""
    try:
        stopped = layout.psql("SELECT state, reason, COUNT(*) FROM sandboxes_sandbox WHERE state <> 'assigned' "
                              "GROUP BY state, reason")
    except Exception as exc:  # the database went with the run
        stopped = f"(not read: {exc})"
    keeper = "\n".join(line for line in layout.log("keeper").splitlines() if "WARNING" in line or "ERROR" in line)
    return f"--- sandboxes not assigned (state|reason|count) ---\n{stopped}\n--- keeper warnings ---\n{keeper[-3000:]}"


def web_processes(layout) -> list[psutil.Process]:
    return [psutil.Process(w.pid) for w in layout.web() if w.pid]


class Typist:
    def __init__(self, layout, learner: Learner, info: dict):
        self.layout, self.learner, self.info = layout, learner, info
        self.mark = secrets.token_hex(4)
        self.echoes: list[float] = []
        self.retries: list[str] = []  # why each earlier try to open closed
        self.back_errors: list[str] = []  # why each try to get back after the kill failed
        self.term: LabdeckTerm | None = None

    async def open(self) -> None:
        """Open the terminal as the page does: a close with a code the page
        retries (static/js/terminal.js) is retried with its backoff, and
        why it closed is kept; any other close is an error."""
        delay, deadline = BACKOFF_MIN, time.monotonic() + 600
        while True:
            self.term = await LabdeckTerm.open(self.layout, self.learner, self.info)
            try:
                await self.term.prompt(timeout=120)
                break
            except EOFError:
                code = self.term.ws.close_code
                if code in REFUSED_CODES or time.monotonic() > deadline:
                    raise
                self.retries.append(f"{code}: {self.term.ws.close_reason}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
        await self.term.write(f"export BENCH_MARK={self.mark}; stty -icanon; cat >/dev/null\r".encode())
        await asyncio.sleep(0.3)
        await self.term.drain(0.2)

    async def type(self, until: float) -> None:
        keys = b"abcdefghijklmnopqrstuvwxyz"
        while time.monotonic() < until:
            await asyncio.sleep(random.expovariate(KEY_RATE))
            key = bytes((random.choice(keys),))
            sent = time.perf_counter()
            try:
                await self.term.write(key)
                async with asyncio.timeout(10):
                    while key not in await self.term.read():
                        pass
            except (TimeoutError, Exception):
                return  # the connection went (the kill): the caller reconnects
            self.echoes.append((time.perf_counter() - sent) * 1000)

    async def dropped(self) -> bool:
        """Whether this terminal's web process was the one killed."""
        try:
            await self.term.write(b"x")
            return not await asyncio.wait_for(self.term.read(), 3)
        except Exception:
            return True

    async def back(self) -> tuple[float, bool]:
        """Reconnect as the page does (through nginx, retrying) until the
        shell answers; (seconds, the same shell)."""
        started = time.monotonic()
        while True:
            with contextlib.suppress(Exception):  # the page's old socket is closed before a new one
                await self.term.close()
            try:
                self.term = await LabdeckTerm.open(self.layout, self.learner, self.info)
                # ^C ends the `cat` and flushes what is typed before the
                # prompt is back: the command waits for the prompt.
                await self.term.drain(0.3)
                await self.term.write(b"\x03")
                await self.term.read_until(b"^C", b"# ", timeout=10)
                await self.term.write(b"echo back-$BENCH_MARK-$((1+1))\r")
                seen = await self.term.read_until(b"back-", b"-2", timeout=20)
                return time.monotonic() - started, f"back-{self.mark}-2".encode() in seen
            except Exception as exc:
                self.back_errors.append(f"{time.monotonic() - started:.1f} s: {exc!r}"[:400])
                await asyncio.sleep(0.5)
            if time.monotonic() - started > 120:
                return time.monotonic() - started, False


async def typing_and_kill(layout, typists: list[Typist], seconds: float) -> dict:
    opened = time.monotonic()
    await asyncio.gather(*(t.open() for t in typists))
    opened = time.monotonic() - opened
    web = web_processes(layout)
    for process in web:
        process.cpu_percent(None)
    rss_before = {p.pid: p.memory_info().rss for p in web}
    until = time.monotonic() + seconds
    await asyncio.gather(*(t.type(until) for t in typists))
    cpu = [p.cpu_percent(None) for p in web]
    rss_after = [p.memory_info().rss for p in web]
    host_load = psutil.getloadavg()[0]

    layout.kill_web(0)
    dropped = await asyncio.gather(*(t.dropped() for t in typists))
    affected = [t for t, gone in zip(typists, dropped, strict=True) if gone]
    results = await asyncio.gather(*(t.back() for t in affected))
    layout.wait_web(0)
    return {
        "echo_ms": [e for t in typists for e in t.echoes], "cpu_percent": cpu,
        "rss_growth": [a - b for a, b in zip(rss_after, rss_before.values(), strict=True)],
        "affected": len(affected), "back_s": [r[0] for r in results],
        "lost": sum(1 for r in results if not r[1]), "opened_s": opened,
        "lost_why": [t.back_errors[:2] + t.back_errors[-2:] for t, r in zip(affected, results, strict=True)
                     if not r[1]],
        "open_retries": dict(Counter(why for t in typists for why in t.retries)),
        "retried": sum(1 for t in typists if t.retries), "load_average": host_load,
    }


async def progress_socket(layout, learner: Learner):
    cookie = "; ".join(f"{k}={v}" for k, v in learner.http.cookies.get_dict().items())
    delay = BACKOFF_MIN
    for attempt in range(6):  # as the page does, again after a while
        try:
            ws = await connect(layout.url.replace("http", "ws") + "/ws/progress/intro/", origin=layout.url,
                               additional_headers={"Cookie": cookie}, max_size=None, ping_interval=None,
                               open_timeout=30)
            break
        except (TimeoutError, OSError):
            if attempt == 5:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)
    await ws.recv()
    # Like the player page, on the hello-world slide: rounds check that section.
    await ws.send(json.dumps({"type": "slide", "number": first_slide_of("intro", "hello-world")}))
    return ws


def rounds_so_far(layout) -> int:
    """The checker worker's own count of its rounds (it logs it every few
    seconds). The engine's exec events were read before, but a burst of 300
    sandboxes' rounds overflows the engine's buffer of recent events (about
    a thousand): no round was seen."""
    found = re.findall(r"checker: (\d+) rounds so far", layout.log("checker"))
    return int(found[-1]) if found else 0


async def burst_pace(layout, started: float, window: float) -> tuple[int, float]:
    """(rounds, rounds per second) of the burst that began at `started`:
    the count is read every half second, and the pace is taken over the time
    from the burst until the count last grew within the window."""
    before = rounds_so_far(layout)
    count, grown_at = before, started
    while time.monotonic() - started < window:
        await asyncio.sleep(0.5)
        now = rounds_so_far(layout)
        if now > count:
            count, grown_at = now, time.monotonic()
    return count - before, (count - before) / max(grown_at - started, 0.1)


async def output_seen(term) -> float:
    """When the container's output reaches the terminal: the state change
    (it exits right after), as bench/checker.py counts it."""
    await term.read_until(b"echo hello world\r\n", b"hello world\r\n", timeout=30)
    return time.monotonic()


async def passed_seen(page) -> float:
    """When the learner's page hears that hello-world passed."""
    while True:
        message = json.loads(await page.recv())
        if message.get("type") == "progress" and \
                message["exercises"].get("hello-world", {}).get("status") == "passed":
            return time.monotonic()


async def checks(layout, typists: list[Typist]) -> dict:
    pages = await asyncio.gather(*(progress_socket(layout, t.learner) for t in typists))
    await asyncio.sleep(8)
    for typist in typists:
        await typist.term.write(b"\x03")
        await typist.term.drain(0.1)
    # The burst: every shell finishes a command at once.
    await asyncio.sleep(6)
    started = time.monotonic()
    await asyncio.gather(*(t.term.write(b"true\r") for t in typists))
    burst_rounds, pace = await burst_pace(layout, started, max(20, len(typists) / 10))

    # At half that pace: exercises that turn green.
    async def one(typist: Typist, page) -> float:
        await typist.term.drain(0.05)
        await typist.term.write(b"docker run busybox echo hello world\r")
        try:
            async with asyncio.timeout(30):
                printed, shown = await asyncio.gather(output_seen(typist.term), passed_seen(page))
            return max(shown - printed, 0.0)
        except TimeoutError:
            return float("inf")

    # Learners start one after the other at that pace, without waiting for
    # each other: the worker has that many state changes to turn green.
    interval = 2.0 / max(pace, 0.5)
    tasks = []
    for typist, page in zip(typists, pages, strict=True):
        tasks.append(asyncio.get_running_loop().create_task(one(typist, page)))
        await asyncio.sleep(interval)
    passed_s = list(await asyncio.gather(*tasks))
    for page in pages:
        await page.close()
    return {"burst_rounds": burst_rounds, "rounds_per_s": pace, "passed_s": passed_s}


async def room_at_work(layout, typists: list[Typist], seconds: float) -> tuple[dict, dict]:
    """Both parts in one event loop: the terminals' websockets belong to the
    loop that opened them. The first part's figures are printed at once and
    kept if the second part fails."""
    load = await typing_and_kill(layout, typists, seconds)
    print("  typing and kill:", json.dumps({k: v for k, v in load.items() if k != "echo_ms"}), flush=True)
    try:
        return load, await checks(layout, typists)
    except Exception as exc:
        print(diagnosis(layout), flush=True)
        return load, {"error": f"{type(exc).__name__}: {exc}"}


def run(opts: Options) -> Result:
    count = opts.pick(300, 12)
    layout = ProductionLayout(LABDECK_MAX_SANDBOXES=str(count + 5), LABDECK_POOL_SIZE="0",
                              LABDECK_SANDBOX_MEMORY="512m", LOG_LEVEL="INFO")
    try:
        available = meminfo("MemAvailable")
        t0 = time.monotonic()
        failures: list[str] = []
        ready = learners_ready(layout, count, failures)
        started_in = time.monotonic() - t0
        per_sandbox = (available - meminfo("MemAvailable")) / count / 2**20
        typists = [Typist(layout, learner, info) for learner, info in ready]
        load, checked = asyncio.run(room_at_work(layout, typists, opts.pick(TYPING_SECONDS, 20)))
    except Exception:
        print(diagnosis(layout), flush=True)
        raise
    finally:
        layout.stop()

    echo = load["echo_ms"]
    terminals_per_web = count / len(load["rss_growth"])
    per_terminal = sum(load["rss_growth"]) / count / 1024
    back95 = percentile(load["back_s"], 95) if load["back_s"] else float("nan")
    res = Result(raw={"load": {k: v for k, v in load.items() if k != "echo_ms"}, "checks": checked,
                      "start_failures": failures,
                      "echo_ms": echo})
    retried = "; ".join(f"{n}× {why}" for why, n in load["open_retries"].items()) or "none"
    res.rows += [
        Row(f"{count} sandboxes asked for at once: starts that failed or were not answered (asked again, as the page "
            "does)",
            f"{len(failures)}" + (f" ({'; '.join(sorted(set(failures)))})" if failures else "")),
        Row(f"{count} terminals opened at once: all at a prompt after (retried as the page does: {retried})",
            f"{fmt_s(load['opened_s'])}, {load['retried']} retried"),
        Row(f"{count} learners typing, about {KEY_RATE:.0f} keys/s each: echo (p50 / p99, N={len(echo)})",
            f"{fmt_ms(percentile(echo, 50))} / {fmt_ms(percentile(echo, 99))}"),
        Row(f"Memory per open terminal in the web tier ({count} terminals over {len(load['rss_growth'])} "
            "web processes)", f"{per_terminal:.0f} KiB"),
        Row("CPU per web process while they type", " / ".join(f"{c:.0f}%" for c in load["cpu_percent"])),
        Row(f"A web process killed mid-load: learners back at a prompt (p95, {load['affected']} affected)",
            fmt_s(back95)),
        Row("A web process killed mid-load: shells lost", str(load["lost"]), "0", load["lost"] == 0),
    ]
    if "error" in checked:
        res.rows.append(Row("Checks (rounds per second, state change to passed)", f"error: {checked['error']}",
                            f"p95 ≤ {TARGET_PASSED_P95:.0f} s", False))
    else:
        passed95 = percentile(checked["passed_s"], 95)
        never = sum(1 for s in checked["passed_s"] if s == float("inf"))
        res.rows += [
            Row("Check rounds per second the worker sustains (a burst: every shell finishes a command)",
                f"{checked['rounds_per_s']:.1f}"),
            Row(f"State change to passed at half that pace (p95, N={len(checked['passed_s'])}; "
                f"not shown within 30 s: {never})", fmt_s(passed95),
                f"p95 ≤ {TARGET_PASSED_P95:.0f} s", passed95 <= TARGET_PASSED_P95),
        ]
    res.notes.append(
        f"Room of {count}: real sandboxes (asked for at once, all ready in {started_in:.0f} s; "
        f"host memory {per_sandbox:.0f} MiB each), each with a terminal through nginx "
        f"({terminals_per_web:.0f} per web process) and a progress socket; host load average "
        f"{load['load_average']:.0f} at the end of the typing; the burst gave "
        f"{checked.get('burst_rounds', 'no')} rounds.")
    return res
