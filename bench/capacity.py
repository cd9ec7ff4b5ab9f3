"""Capacity: how many sandboxes this machine holds, each with a learner's
terminal open and a `docker run busybox true` that worked in it.

Sandboxes are added one at a time (512m memory limit each) until the
machine's real limit: one is not ready within 30 s or its `docker run`
fails, or the host's MemAvailable falls below 2 GiB. BENCH_CAPACITY_MAX
(default: none) and BENCH_CAPACITY_SECONDS (default 1800; a 2-core host
adds about 400 in that time) stop it earlier where asked. Memory
per sandbox is the host's MemAvailable drop divided by the count.
"""
from __future__ import annotations

import os
import time

import requests

from bench.common import PROMPT_DONE, PROMPT_END, Options, Result, Row, fmt_s, meminfo, server
from tests.support import Learner

READY_WITHIN = 30
FLOOR = 2 * 2**30
MB = 2**20
REASONS = {
    "cap": "reached the cap",
    "memory": "host MemAvailable below 2 GiB",
    "time": "time budget used up",
    "not-ready": "a sandbox was not ready within 30 s",
    "docker-run": "`docker run` failed in a sandbox",
}


def add_one(srv) -> tuple[object | None, dict]:
    """A new learner's sandbox with its terminal open and docker run done; None on failure."""
    learner = Learner(srv)
    t0 = time.monotonic()
    try:
        info = learner.start(timeout=READY_WITHIN)
    except requests.RequestException as exc:
        return None, {"failed": "not-ready", "error": str(exc)}
    ready = time.monotonic() - t0
    if info.get("state") != "ready" or ready > READY_WITHIN:
        return None, {"failed": "not-ready", "ready_s": ready, "info": info}
    term = learner.terminal(info)
    try:
        term.read_until(PROMPT_DONE, timeout=READY_WITHIN)
        if PROMPT_END not in term.screen[term.screen.rfind(PROMPT_DONE):]:
            term.read_until(PROMPT_END, timeout=READY_WITHIN)
        t1 = time.monotonic()
        term.send("docker run --rm busybox true && echo BENCH-OK-$((20+1))\r")
        term.read_until("BENCH-OK-21", timeout=READY_WITHIN)
    except AssertionError as exc:
        term.close()
        return None, {"failed": "docker-run", "ready_s": ready, "error": str(exc)[-300:]}
    return term, {"ready_s": ready, "docker_run_s": time.monotonic() - t1}


def run(opts: Options) -> Result:
    cap = int(os.environ.get("BENCH_CAPACITY_MAX", "100000"))
    seconds = float(os.environ.get("BENCH_CAPACITY_SECONDS", "1800"))
    cap, budget = opts.pick((cap, seconds), (min(cap, 3), 120.0))
    terms, samples = [], []
    reason = ""
    with server(LABDECK_POOL_SIZE="0", LABDECK_MAX_SANDBOXES=str(cap + 2), LABDECK_SANDBOX_MEMORY="512m",
                LABDECK_READY_TIMEOUT=str(READY_WITHIN)) as srv:
        avail_before = meminfo("MemAvailable")
        started = time.monotonic()
        try:
            while True:
                if len(terms) >= cap:
                    reason = "cap"
                elif time.monotonic() - started > budget:
                    reason = "time"
                elif meminfo("MemAvailable") < FLOOR:
                    reason = "memory"
                if reason:
                    break
                term, sample = add_one(srv)
                samples.append(sample)
                if term is None:
                    reason = sample["failed"]
                    print(f"  sandbox {len(terms) + 1}: failed ({sample})", flush=True)
                    break
                terms.append(term)
                print(f"  sandbox {len(terms)}: ready in {sample['ready_s']:.1f} s, "
                      f"docker run {sample['docker_run_s']:.1f} s, "
                      f"MemAvailable {meminfo('MemAvailable') / 2**30:.1f} GiB", flush=True)
            time.sleep(5)  # let the last ones settle before reading memory
            avail_after = meminfo("MemAvailable")
            elapsed = time.monotonic() - started
        finally:
            for term in terms:
                term.close()

    count = len(terms)
    per = (avail_before - avail_after) / count / MB if count else float("nan")
    ok = samples[:count]
    res = Result(raw={"samples": samples, "reason": reason, "cap": cap, "seconds": elapsed,
                      "mem_available_before": avail_before, "mem_available_after": avail_after})
    res.rows += [
        Row(f"Capacity: sandboxes held, terminal open + docker run ok (stop: {REASONS[reason]})",
            f"{count}", f"cap ({cap}) or host memory floor, no failure",
            True if reason in ("cap", "memory") else False if reason in ("not-ready", "docker-run") else None),
        Row("Capacity: host memory per sandbox (MemAvailable drop / count)", f"{per:.0f} MiB"),
    ]
    if ok:
        res.notes.append(
            f"Capacity run took {elapsed:.0f} s; time to ready was {fmt_s(ok[0]['ready_s'])} for the first "
            f"sandbox and {fmt_s(ok[-1]['ready_s'])} for sandbox {count}; the slowest was "
            f"{fmt_s(max(s['ready_s'] for s in ok))}."
        )
    return res
