"""Keystroke echo latency: one byte typed, until the TTY echoes it back.

In one sandbox, two shells: one through Labdeck's websocket, one on a
direct Docker exec stream (the baseline). Each runs `stty -icanon;
cat >/dev/null`, so the kernel's line discipline echoes every byte at once
(echo stays on; canonical mode off so the line buffer never fills) and
nothing else writes to the terminal. Samples alternate between the two in
blocks, so drift on the host affects both alike; overhead is the
difference of the percentiles.
"""
from __future__ import annotations

import asyncio
import time

from bench.common import Options, Result, Row, fmt_ms, percentile, ready_learner, server
from bench.streams import DirectTerm, LabdeckTerm, Term

TARGET_P50, TARGET_P99 = 0.5, 5.0  # ms of overhead
KEYS = [bytes((c,)) for c in b"abcdefghijklmnopqrstuvwxyz"]
BLOCKS = 10


async def measure(term: Term, n: int, offset: int = 0) -> list[float]:
    """n echo round trips, in milliseconds."""
    samples = []
    clock = time.perf_counter_ns
    for i in range(n):
        key = KEYS[(offset + i) % len(KEYS)]
        async with asyncio.timeout(10):
            t0 = clock()
            await term.write(key)
            while key not in await term.read():
                pass
            t1 = clock()
        samples.append((t1 - t0) / 1e6)
    return samples


async def prepare(term: Term) -> None:
    await term.prompt()
    await term.write(b"stty -icanon; cat >/dev/null\r")
    await asyncio.sleep(0.5)
    await term.drain()


async def bench(srv, learner, info, handle, warmup: int, n: int) -> dict:
    lab = await LabdeckTerm.open(srv, learner, info)
    direct = await DirectTerm.open(handle)
    try:
        for term in (lab, direct):
            await prepare(term)
        for term in (lab, direct):
            await measure(term, warmup)
        samples: dict[str, list[float]] = {"labdeck": [], "direct": []}
        per_block = n // BLOCKS
        for block in range(BLOCKS):
            order = (lab, direct) if block % 2 == 0 else (direct, lab)
            for term in order:
                samples[term.name] += await measure(term, per_block, block * per_block)
        for term in (lab, direct):
            await term.write(b"\x03")
        return samples
    finally:
        await lab.close()
        await direct.close()


def run(opts: Options) -> Result:
    warmup, n = opts.pick(100, 20), opts.pick(2000, 200)
    with server(LABDECK_POOL_SIZE="0", LABDECK_MAX_SANDBOXES="4") as srv:
        learner, info = ready_learner(srv)
        samples = asyncio.run(bench(srv, learner, info, srv.handle(info), warmup, n))

    lab, direct = samples["labdeck"], samples["direct"]
    stats = {name: {"p50": percentile(s, 50), "p99": percentile(s, 99)} for name, s in samples.items()}
    over50 = stats["labdeck"]["p50"] - stats["direct"]["p50"]
    over99 = stats["labdeck"]["p99"] - stats["direct"]["p99"]
    res = Result(raw={"stats": stats, "samples_ms": samples})
    res.notes.append(
        "Echo overhead = Labdeck percentile − direct percentile. It includes the websocket hop itself "
        "(a Python asyncio client in the bench process, loopback TCP, daphne), which no browser terminal avoids."
    )
    res.rows += [
        Row(f"Keystroke echo via Labdeck (p50 / p99, N={len(lab)})",
            f"{fmt_ms(stats['labdeck']['p50'])} / {fmt_ms(stats['labdeck']['p99'])}"),
        Row(f"Keystroke echo, direct exec stream (p50 / p99, N={len(direct)})",
            f"{fmt_ms(stats['direct']['p50'])} / {fmt_ms(stats['direct']['p99'])}"),
        Row("Echo overhead of Labdeck, p50", fmt_ms(over50), f"≤ {TARGET_P50} ms", over50 <= TARGET_P50),
        Row("Echo overhead of Labdeck, p99", fmt_ms(over99), f"≤ {TARGET_P99:.0f} ms", over99 <= TARGET_P99),
    ]
    return res
