"""Keystroke echo latency: one byte typed, until the TTY echoes it back.

In one sandbox, four shells: one through Labdeck's websocket, one on a
direct Docker exec stream (the baseline), one on the backend's relay into
a shell holder beside the learner's (labdeck-term: what keeping the shell
apart from the web process costs, without the web tier), one through terminado, Jupyter's
terminal server, serving `docker exec -it` (the alternative). Each runs
`stty -icanon; cat >/dev/null`, so the kernel's line discipline echoes
every byte at once (echo stays on; canonical mode off so the line buffer
never fills) and nothing else writes to the terminal. Samples rotate between
the three in blocks, so drift on the host affects all alike; overhead is
the difference of the percentiles.
"""
from __future__ import annotations

import asyncio
import time

from bench.common import Options, Result, Row, fmt_ms, percentile, ready_learner, server
from bench.streams import DirectTerm, HolderTerm, LabdeckTerm, Term, TerminadoTerm

TARGET_P50, TARGET_P99 = 0.2, 0.5  # ms of overhead over direct (issue 13)
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
    terms: list[Term] = []
    try:
        terms.append(await LabdeckTerm.open(srv, learner, info))
        terms.append(await DirectTerm.open(handle))
        terms.append(await HolderTerm.open(handle))
        terms.append(await TerminadoTerm.open(handle))
        for term in terms:
            await prepare(term)
        for term in terms:
            await measure(term, warmup)
        samples: dict[str, list[float]] = {term.name: [] for term in terms}
        per_block = n // BLOCKS
        for block in range(BLOCKS):
            shift = block % len(terms)
            for term in terms[shift:] + terms[:shift]:
                samples[term.name] += await measure(term, per_block, block * per_block)
        for term in terms:
            await term.write(b"\x03")
        return samples
    finally:
        for term in terms:
            await term.close()


def run(opts: Options) -> Result:
    warmup, n = opts.pick(100, 20), opts.pick(2000, 200)
    # The keeper starts the sandbox a learner asks for (the web process only records the ask).
    with server(keeper=True, LABDECK_POOL_SIZE="0", LABDECK_MAX_SANDBOXES="4") as srv:
        learner, info = ready_learner(srv)
        samples = asyncio.run(bench(srv, learner, info, srv.handle(info), warmup, n))

    stats = {name: {"p50": percentile(s, 50), "p99": percentile(s, 99)} for name, s in samples.items()}
    lab, direct, tdo, held = stats["labdeck"], stats["direct"], stats["terminado"], stats["holder"]
    over = {name: {p: stats[name][p] - direct[p] for p in ("p50", "p99")} for name in ("labdeck", "terminado")}
    res = Result(raw={"stats": stats, "overhead_ms": over, "samples_ms": samples})
    res.notes.append(
        "Echo overhead = a terminal's percentile − the direct stream's. Labdeck's includes the websocket hop itself "
        "(a Python asyncio client in the bench process, loopback TCP, the web process), which no browser avoids; "
        "terminado's the same hop (tornado) plus the docker CLI on its pty and JSON text frames."
    )

    def pair(s: dict) -> str:
        return f"{fmt_ms(s['p50'])} / {fmt_ms(s['p99'])}"

    def signed(ms: float) -> str:
        return ("+" if ms >= 0 else "−") + fmt_ms(abs(ms))

    res.rows += [
        Row(f"Keystroke echo via Labdeck (p50 / p99, N={len(samples['labdeck'])})", pair(lab)),
        Row(f"Keystroke echo, direct exec stream (p50 / p99, N={len(samples['direct'])})", pair(direct)),
        Row(f"Keystroke echo via terminado (p50 / p99, N={len(samples['terminado'])})", pair(tdo)),
        Row("Echo overhead of Labdeck over direct, p50", signed(over["labdeck"]["p50"]), f"≤ +{TARGET_P50} ms",
            over["labdeck"]["p50"] <= TARGET_P50),
        Row("Echo overhead of Labdeck over direct, p99", signed(over["labdeck"]["p99"]), f"≤ +{TARGET_P99} ms",
            over["labdeck"]["p99"] <= TARGET_P99),
        Row(f"Keystroke echo, relay into the shell holder (p50 / p99, N={len(samples['holder'])})", pair(held)),
        Row("Of Labdeck's overhead: the shell holder (relay into it − direct; p50 / p99)",
            f"{signed(held['p50'] - direct['p50'])} / {signed(held['p99'] - direct['p99'])}"),
        Row("Of Labdeck's overhead: the web tier and the bench's websocket client (Labdeck − relay into the holder)",
            f"{signed(lab['p50'] - held['p50'])} / {signed(lab['p99'] - held['p99'])}"),
        Row("Echo overhead of terminado over direct (p50 / p99)",
            f"{signed(over['terminado']['p50'])} / {signed(over['terminado']['p99'])}"),
        Row("Echo of Labdeck − terminado (p50 / p99; below zero: Labdeck faster)",
            f"{signed(lab['p50'] - tdo['p50'])} / {signed(lab['p99'] - tdo['p99'])}"),
        Row("Echo of Labdeck relative to terminado (p50 / p99)",
            f"{lab['p50'] / tdo['p50']:.0%} / {lab['p99'] / tdo['p99']:.0%}"),
    ]
    return res
