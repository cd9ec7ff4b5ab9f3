"""Memory of an idle sandbox: ready, a learner's terminal open at the prompt,
then left alone for 10 s; the backend's stats() figure (cgroup memory usage
minus page cache, like `docker stats`). Median over 3 sandboxes."""
from __future__ import annotations

import time

from bench.common import PROMPT_DONE, PROMPT_END, Options, Result, Row, backend, median, server
from tests.support import Learner

TARGET_MB = 64
IDLE = 10.0
MB = 2**20


def run(opts: Options) -> Result:
    count = opts.pick(3, 1)
    terms, handles = [], []
    with server(LABDECK_POOL_SIZE="0", LABDECK_MAX_SANDBOXES=str(count + 2)) as srv:
        for _ in range(count):
            learner = Learner(srv)
            info = learner.start()
            if info.get("state") != "ready":
                raise RuntimeError(f"no sandbox: {info}")
            term = learner.terminal(info)
            term.read_until(PROMPT_DONE)
            if PROMPT_END not in term.screen[term.screen.rfind(PROMPT_DONE):]:
                term.read_until(PROMPT_END)
            terms.append(term)
            handles.append(srv.handle(info))
        time.sleep(IDLE)
        stats = [backend().stats(h) for h in handles]
        for term in terms:
            term.close()

    used = [s["memory_bytes"] / MB for s in stats]
    mid = median(used)
    res = Result(raw={"stats": stats})
    res.rows.append(Row(
        f"Memory of an idle sandbox, terminal open (median of {count}; usage − cache)",
        f"{mid:.1f} MiB", f"≤ {TARGET_MB} MiB", mid <= TARGET_MB,
    ))
    return res
