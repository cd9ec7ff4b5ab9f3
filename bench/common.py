"""What every benchmark shares: options, result rows, statistics, the machine,
a live Labdeck server with the bench's prefix, and the clean-up."""
from __future__ import annotations

import contextlib
import datetime
import os
import platform
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import NETWORK, PREFIX
from tests.support import LiveServer, engine

RESULTS = Path(__file__).resolve().parent / "results"
LABEL = f"org.labdeck.instance={PREFIX}"
# PROMPT_COMMAND prints this private OSC right before PS1 (deploy/sandbox/bashrc).
PROMPT_DONE = b"\x1b]6973;labdeck;done"
PROMPT_END = b"# "


@dataclass
class Options:
    quick: bool = False

    def pick(self, full, quick):
        return quick if self.quick else full


@dataclass
class Row:
    """One line of the results table."""

    name: str
    value: str
    target: str = ""
    passed: bool | None = None  # None: informational, no target

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "**FAIL**", None: "—"}[self.passed]


@dataclass
class Result:
    """What a benchmark module returns: table rows and its raw numbers."""

    rows: list[Row] = field(default_factory=list)
    raw: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# -- statistics -------------------------------------------------------------

def percentile(samples: list[float], p: float) -> float:
    """The p-th percentile (0..100), linear between closest ranks."""
    if not samples:
        return float("nan")
    xs = sorted(samples)
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    if k == lo or xs[hi] == xs[lo]:
        return xs[lo]  # also where both are infinite (a sample that never came)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def median(samples: list[float]) -> float:
    return percentile(samples, 50)


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"


def fmt_ms(ms: float) -> str:
    return f"{ms:.3f} ms" if abs(ms) < 1 else f"{ms:.2f} ms"


# -- the machine ------------------------------------------------------------

def meminfo(key: str) -> int:
    """A /proc/meminfo figure in bytes, e.g. meminfo("MemAvailable")."""
    with open("/proc/meminfo") as f:
        for line in f:
            name, value = line.split(":", 1)
            if name == key:
                return int(value.split()[0]) * 1024
    raise KeyError(key)


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        docker_version = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        docker_version = "unknown"
    cgroup = "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1"
    return {
        "CPU": cpu,
        "Cores": str(os.cpu_count()),
        "RAM": f"{meminfo('MemTotal') / 2**30:.1f} GiB",
        "Kernel": platform.release(),
        "Docker": f"{docker_version} (cgroup {cgroup})",
        "Python": platform.python_version(),
        "Date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def render(rows: list[Row], host: dict[str, str], notes: list[str], title: str) -> str:
    lines = [f"# {title}", "", "Measured on:", ""]
    lines += [f"- **{k}**: {v}" for k, v in host.items()]
    lines += ["", "| Measurement | Result | Target | Pass |", "|---|---|---|---|"]
    lines += [f"| {r.name} | {r.value} | {r.target or '—'} | {r.verdict} |" for r in rows]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def load() -> str:
    """The host's load and the containers running that are not the bench's (others' tests, say)."""

    client = engine()
    others = [c for c in client.containers.list()
              if c.labels.get("org.labdeck.instance") != PREFIX]
    client.close()
    return f"load average {os.getloadavg()[0]:.2f}, {len(others)} other container(s) running"


# -- Docker -----------------------------------------------------------------

def cleanup() -> int:
    """Remove every container, volume and network carrying the bench's label."""
    import docker

    client = engine()
    selector = {"label": LABEL}
    removed = 0
    for container in client.containers.list(all=True, filters=selector):
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True, v=True)
            removed += 1
    for volume in client.volumes.list(filters=selector):
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            volume.remove(force=True)
    for network in client.networks.list(names=[NETWORK]):
        if network.attrs.get("Labels", {}).get("org.labdeck.instance") == PREFIX:
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                network.remove()
    client.close()
    return removed


def engine_process():
    """The sandbox engine's dockerd (deploy/engine/start.sh writes its pid file)."""
    import psutil

    with open(os.path.join(os.environ.get("LABDECK_ENGINE_RUN", "/run/labdeck"), "engine.pid")) as f:
        return psutil.Process(int(f.read()))


_backend = None


def backend():
    """A DockerBackend configured exactly like the server's (same settings)."""
    global _backend
    if _backend is None:
        import django

        django.setup()
        from sandboxes.backends.docker import DockerBackend

        _backend = DockerBackend.from_settings()
        assert _backend.prefix == PREFIX, _backend.prefix
    return _backend


def first_slide_of(course: str, exercise: str) -> int:
    """The first slide of the section that holds an exercise: what a player
    page on that section tells its progress socket, so that check rounds
    look at that section's exercises."""
    import django

    django.setup()
    from lessons import catalog

    return next(s for s in catalog.get(course).sections() if exercise in s.exercise_ids()).slides[0].number


# -- a live Labdeck ---------------------------------------------------------

class BenchServer(LiveServer):
    """tests.support.LiveServer with the bench's prefix, and a look into its database."""

    def __init__(self, keeper: bool = True, **env: str):
        super().__init__(keeper=keeper, LABDECK_NAME_PREFIX=PREFIX, LABDECK_SANDBOX_NETWORK=NETWORK,
                         LOG_LEVEL="WARNING", **env)

    def query(self, sql: str, *params) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(f"{self.dir}/db.sqlite3", timeout=20)) as db, db:
            return db.execute(sql, params).fetchall()  # `with db` commits a write

    def handle(self, info: dict) -> str:
        """The backend handle (container name) of the sandbox a learner got."""
        rows = self.query("SELECT handle FROM sandboxes_sandbox WHERE public_id = ?", uuid.UUID(info["sandbox"]).hex)
        if not rows or not rows[0][0]:
            raise RuntimeError(f"no handle for sandbox {info['sandbox']}")
        return rows[0][0]

    def pool_counts(self) -> tuple[int, int]:
        """(ready unclaimed, starting unclaimed) sandboxes in the pool."""
        rows = dict(self.query(
            "SELECT state, COUNT(*) FROM sandboxes_sandbox WHERE owner = '' GROUP BY state"))
        return rows.get("ready", 0), rows.get("starting", 0)

    def wait_pool(self, size: int, timeout: float = 120) -> float:
        """Wait until the keeper has `size` ready sandboxes and starts no more; seconds waited."""
        t0 = time.monotonic()
        while True:
            ready, starting = self.pool_counts()
            if ready >= size and starting == 0:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"pool not refilled after {timeout:.0f} s ({ready} ready, {starting} starting)")
            time.sleep(0.1)


@contextlib.contextmanager
def server(keeper: bool = True, **env: str) -> Iterator[BenchServer]:
    live = BenchServer(keeper=keeper, **env)
    try:
        yield live
    except Exception:
        tail = live.output()[-3000:]
        if tail.strip():
            print(f"--- server log (tail) ---\n{tail}\n---", flush=True)
        raise
    finally:
        live.stop()
        live.log.close()
        shutil.rmtree(live.dir, ignore_errors=True)
        cleanup()


def as_dict(rows: list[Row]) -> list[dict]:
    return [asdict(r) for r in rows]


def ready_learner(srv):
    """A new learner of srv with a ready sandbox: (learner, start info)."""
    from tests.support import Learner

    learner = Learner(srv)
    info = learner.start()
    if info.get("state") != "ready":
        raise RuntimeError(f"no sandbox: {info}")
    return learner, info
