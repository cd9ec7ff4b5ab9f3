"""Output throughput: a command prints 50 MB of 'x' to the terminal; MB/s are
the 50 MB over the time from sending the command until its unique end marker
arrives: how soon a learner's flood is over and the prompt back.

Through Labdeck the client acknowledges every 16 KB, as xterm.js would;
the baseline is the direct Docker exec stream to the same sandbox, the
alternative terminado serving `docker exec -it` into it (no flow control:
it sends what its pty gives); the relay into a shell holder beside the
learner's (labdeck-term) says how much of Labdeck's figure is the holder's.
Three rounds, rotating which goes first;
medians are reported.
"""
from __future__ import annotations

import asyncio
import time

from bench.common import PROMPT_END, Options, Result, Row, median, ready_learner, server
from bench.streams import DirectTerm, HolderTerm, LabdeckTerm, Term, TerminadoTerm

TARGET_RATIO = 0.90  # of direct (issue 13)


async def flood(term: Term, size: int, tag: int) -> dict:
    marker = f"BENCH-END-{tag}".encode()
    # The marker is computed by the shell, so the echoed command line does not contain it.
    command = f"head -c {size} /dev/zero | tr '\\0' x; printf '\\nBENCH-END-%s\\n' $(({tag - 1}+1))\r"
    total, reads, tail, keep = 0, 0, b"", len(marker) - 1
    async with asyncio.timeout(300):
        t0 = time.perf_counter()
        await term.write(command.encode())
        while True:
            data = await term.read()
            if not data:
                raise EOFError(f"{term.name}: terminal closed during the flood")
            total += len(data)
            reads += 1
            window = tail + data
            if marker in window:
                after = window[window.index(marker):]
                break
            tail = window[-keep:]
        elapsed = time.perf_counter() - t0
        await term.read_until(PROMPT_END, timeout=60, already=after)
    return {"bytes": total, "seconds": elapsed, "mb_s": size / elapsed / 1e6, "reads": reads}


async def bench(srv, learner, info, handle, size: int, rounds: int) -> dict[str, list[dict]]:
    terms: list[Term] = []
    try:
        terms.append(await LabdeckTerm.open(srv, learner, info))
        terms.append(await DirectTerm.open(handle))
        terms.append(await HolderTerm.open(handle))
        terms.append(await TerminadoTerm.open(handle))
        for term in terms:
            await term.prompt()
            await term.drain()
        runs: dict[str, list[dict]] = {term.name: [] for term in terms}
        tag = 4000
        for i in range(rounds):
            shift = i % len(terms)
            for term in terms[shift:] + terms[:shift]:
                tag += 1
                runs[term.name].append(await flood(term, size, tag))
                r = runs[term.name][-1]
                print(f"  {term.name}: {r['mb_s']:.1f} MB/s ({r['bytes'] / r['reads'] / 1024:.0f} KiB a read)",
                      flush=True)
        return runs
    finally:
        for term in terms:
            await term.close()


def run(opts: Options) -> Result:
    size, rounds = opts.pick(50_000_000, 10_000_000), opts.pick(3, 1)
    # The keeper starts the sandbox a learner asks for (the web process only records the ask).
    with server(keeper=True, LABDECK_POOL_SIZE="0", LABDECK_MAX_SANDBOXES="4") as srv:
        learner, info = ready_learner(srv)
        runs = asyncio.run(bench(srv, learner, info, srv.handle(info), size, rounds))

    mb_s = {name: median([r["mb_s"] for r in rs]) for name, rs in runs.items()}
    lab, direct, tdo, held = mb_s["labdeck"], mb_s["direct"], mb_s["terminado"], mb_s["holder"]
    ratio = lab / direct
    res = Result(raw=runs)

    def per_round(name: str, base: str) -> str:
        return ", ".join(f"{a['mb_s'] / b['mb_s']:.0%}" for a, b in zip(runs[name], runs[base], strict=True))

    res.notes.append(
        f"Throughput per round, relative to direct: Labdeck {per_round('labdeck', 'direct')}; "
        f"terminado {per_round('terminado', 'direct')}. With a TTY, Docker's exec stream "
        "itself is the ceiling here (`docker exec -t` to /dev/null is in the same range)."
    )
    mb = f"{size / 1e6:.0f} MB"
    res.rows += [
        Row(f"Output throughput via Labdeck ({mb}, median of {rounds})", f"{lab:.1f} MB/s"),
        Row(f"Output throughput, direct exec stream ({mb}, median of {rounds})", f"{direct:.1f} MB/s"),
        Row(f"Output throughput via terminado ({mb}, median of {rounds})", f"{tdo:.1f} MB/s"),
        Row("Throughput of Labdeck relative to direct", f"{ratio:.0%}", f"≥ {TARGET_RATIO:.0%}",
            ratio >= TARGET_RATIO),
        Row(f"Output throughput, relay into the shell holder ({mb}, median of {rounds})", f"{held:.1f} MB/s"),
        Row("Throughput of the relay into the shell holder relative to direct", f"{held / direct:.0%}"),
        Row("Throughput of terminado relative to direct", f"{tdo / direct:.0%}"),
        Row("Throughput of Labdeck relative to terminado", f"{lab / tdo:.2f}×"),
    ]
    return res
