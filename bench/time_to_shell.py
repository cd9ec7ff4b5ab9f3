"""Time to shell: from POST /sandbox/start to the first output byte of the
prompt on the terminal websocket, as a learner's browser sees it.

Warm: the pool keeper (`sandboxd`) holds 2 ready sandboxes; before every
sample we wait until it has refilled the pool (and let the host settle), so
each sample is a claim from a full pool. Cold: no pool, so the POST creates
the sandbox and waits until its inner engine is ready.
"""
from __future__ import annotations

import time

from bench.common import PROMPT_DONE, PROMPT_END, Options, Result, Row, backend, fmt_s, percentile, server
from tests.support import Learner

WARM_TARGET_P95 = 0.5
COLD_TARGET_P50 = 2.0
POOL = 2


def sample(srv) -> dict:
    learner = Learner(srv)  # GET / first: the page load, not part of the measurement
    t0 = time.perf_counter()
    info = learner.start()
    t_claim = time.perf_counter()
    if info.get("state") != "ready":
        raise RuntimeError(f"no sandbox: {info}")
    term = learner.terminal(info)
    t_connected = time.perf_counter()
    t_first = None
    deadline = time.monotonic() + 30
    while True:
        payload = term.recv(max(0.01, deadline - time.monotonic()))
        if payload and t_first is None:
            t_first = time.perf_counter()
        done = term.screen.find(PROMPT_DONE)
        if done >= 0 and PROMPT_END in term.screen[done:]:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"no prompt after 30 s: {term.screen[-300:]!r}")
    t_prompt = time.perf_counter()
    term.close()
    handle = srv.handle(info)
    backend().destroy(handle)  # release it: the reaper marks the row gone
    return {
        "first_byte": t_first - t0, "prompt": t_prompt - t0,
        "claim": t_claim - t0, "ws_connect": t_connected - t_claim, "handle": handle,
    }


def run(opts: Options) -> Result:
    res = Result()
    n_warm, n_cold = opts.pick(10, 3), opts.pick(5, 2)

    warm = []
    with server(keeper=True, LABDECK_POOL_SIZE=str(POOL), LABDECK_MAX_SANDBOXES=str(POOL + 4)) as srv:
        for i in range(n_warm):
            srv.wait_pool(POOL)
            time.sleep(1.0)  # the new pool member's start-up work settles
            warm.append(sample(srv))
            print(f"  warm {i + 1}/{n_warm}: {warm[-1]['first_byte'] * 1000:.0f} ms "
                  f"(claim {warm[-1]['claim'] * 1000:.0f} ms)", flush=True)
    cold = []
    with server(LABDECK_POOL_SIZE="0", LABDECK_MAX_SANDBOXES=str(n_cold + 4)) as srv:
        for i in range(n_cold):
            time.sleep(1.0)
            cold.append(sample(srv))
            print(f"  cold {i + 1}/{n_cold}: {cold[-1]['first_byte']:.2f} s "
                  f"(claim {cold[-1]['claim']:.2f} s)", flush=True)

    w = [s["first_byte"] for s in warm]
    c = [s["first_byte"] for s in cold]
    w95, c50 = percentile(w, 95), percentile(c, 50)
    res.rows += [
        Row(f"Time to shell, warm pool (p50 / p95, N={len(w)})",
            f"{fmt_s(percentile(w, 50))} / {fmt_s(w95)}", f"p95 ≤ {WARM_TARGET_P95} s", w95 <= WARM_TARGET_P95),
        Row(f"Time to shell, cold (p50, N={len(c)})", fmt_s(c50), f"p50 ≤ {COLD_TARGET_P50} s",
            c50 <= COLD_TARGET_P50),
    ]
    wc = [s["claim"] for s in warm]
    cc = [s["claim"] for s in cold]
    res.notes.append(
        "Time to shell is POST /sandbox/start → first OUTPUT frame. Of it, the POST itself took "
        f"p50 {fmt_s(percentile(wc, 50))} warm and {fmt_s(percentile(cc, 50))} cold; the full prompt "
        f"arrived at p50 {fmt_s(percentile([s['prompt'] for s in warm], 50))} warm."
    )
    res.raw = {"warm": warm, "cold": cold}
    return res
