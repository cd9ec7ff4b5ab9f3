"""Noisy neighbours: a learner's keystroke echo through Labdeck, quiet, then
while four other sandboxes run a fork bomb, a memory hog, a disk filler
(its disk capped at 1 GiB) and a CPU burner. The target: p99 with the noise
under twice the quiet p99."""
from __future__ import annotations

import asyncio
import secrets
import time

from bench.common import Options, Result, Row, backend, fmt_ms, percentile, ready_learner, server
from bench.echo import measure, prepare
from bench.streams import LabdeckTerm
from tests.support import NOISE, start_noise

TARGET_RATIO = 2.0
SETTLE = 5.0


def make_neighbours() -> list[str]:
    names = []
    for kind in NOISE:
        name = f"{backend().prefix}-noisy-{kind}-{secrets.token_hex(2)}"
        disk = backend().disk
        backend().disk = "1g" if kind == "disk-filler" else disk
        try:
            backend().create(name, {})
        finally:
            backend().disk = disk
        names.append(name)
    for name in names:
        backend().wait_ready(name, 90)
    return names


async def bench(srv, learner, info, n: int) -> dict:
    term = await LabdeckTerm.open(srv, learner, info)
    try:
        await prepare(term)
        await measure(term, 100)
        quiet = await measure(term, n)
        names = await asyncio.to_thread(make_neighbours)
        try:
            for name, kind in zip(names, NOISE, strict=True):
                await asyncio.to_thread(start_noise, backend(), name, kind)
            await asyncio.sleep(SETTLE)
            started = time.monotonic()
            noisy = await measure(term, n)
            seconds = time.monotonic() - started
        finally:
            for name in names:
                await asyncio.to_thread(backend().destroy, name)
        await term.write(b"\x03")
        return {"quiet": quiet, "noisy": noisy, "noisy_seconds": seconds}
    finally:
        await term.close()


def run(opts: Options) -> Result:
    n = opts.pick(1000, 200)
    with server(LABDECK_POOL_SIZE="0", LABDECK_MAX_SANDBOXES="8") as srv:
        learner, info = ready_learner(srv)
        samples = asyncio.run(bench(srv, learner, info, n))
    quiet99, noisy99 = percentile(samples["quiet"], 99), percentile(samples["noisy"], 99)
    ratio = noisy99 / quiet99
    res = Result(raw=samples)
    res.rows += [
        Row(f"Keystroke echo via Labdeck, quiet host (p50 / p99, N={n})",
            f"{fmt_ms(percentile(samples['quiet'], 50))} / {fmt_ms(quiet99)}"),
        Row(f"Keystroke echo with 4 noisy neighbours: fork bomb, memory hog, disk filler, CPU burner "
            f"(p50 / p99, N={n})", f"{fmt_ms(percentile(samples['noisy'], 50))} / {fmt_ms(noisy99)}"),
        Row("Noisy neighbours: echo p99 relative to quiet", f"{ratio:.2f}×", f"< {TARGET_RATIO:.0f}×",
            ratio < TARGET_RATIO),
    ]
    res.notes.append(f"Noisy neighbours: {len(NOISE)} sandboxes ran their noise for {SETTLE:.0f} s before and "
                     f"{samples['noisy_seconds']:.0f} s during the measurement, on {n} keys.")
    return res
