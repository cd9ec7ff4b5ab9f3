"""Noisy neighbours: a fork bomb, a memory hog, a disk filler and a CPU
burner, each in a sandbox of its own, while another learner types. Each one
runs into its own limit; the host and the quiet learner's terminal go on.
(How much the quiet learner's echo slows down is a `make bench` row.)"""
import asyncio
import secrets
import statistics
import time
from pathlib import Path

import pytest

from tests.support import NOISE, engine, run_async, start_noise

NOISE_SECONDS = 15


def cgroup(name: str, controller: str, file: str) -> str:
    container = engine().containers.get(name).id
    return Path(f"/sys/fs/cgroup/{controller}/labdeck/{container}/{file}").read_text()


def meminfo(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


@pytest.fixture
def neighbours(settings):
    from sandboxes.backends.docker import DockerBackend

    backend = DockerBackend.from_settings()
    small_disk = DockerBackend.from_settings()
    small_disk.disk = "1g"  # the filler reaches its quota in seconds
    names = {kind: f"labdeck-test-noisy-{kind}-{secrets.token_hex(2)}" for kind in [*NOISE, "quiet"]}
    try:
        for kind, name in names.items():
            (small_disk if kind == "disk-filler" else backend).create(name, {})
        for name in names.values():
            backend.wait_ready(name, 90)
        yield backend, names
    finally:
        for name in names.values():
            backend.destroy(name)


def memory_limit_hit(name: str) -> bool:
    oom = dict(line.split() for line in cgroup(name, "memory", "memory.oom_control").splitlines())
    return int(oom.get("oom_kill", 0)) > 0 or int(cgroup(name, "memory", "memory.failcnt")) > 0


def eventually(check, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


async def type_keys(backend, name: str, seconds: float) -> list[float]:
    """Echo times of single keystrokes typed into a shell, one every 0.2 s."""
    terminal = await backend.open_terminal(name, 80, 24)
    times = []
    try:
        await terminal.write(b"stty -echoctl; PS1='$ '\r")
        await asyncio.sleep(1)
        while await asyncio.wait_for(terminal.read(65536), 0.5):
            pass
    except TimeoutError:
        pass
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            key = secrets.choice("abcdefghijklmnopqrstuvwxyz").encode()
            sent = time.monotonic()
            await terminal.write(key)
            seen = b""
            while key not in seen:
                seen += await asyncio.wait_for(terminal.read(4096), 10)
            times.append(time.monotonic() - sent)
            await asyncio.sleep(0.2)
    finally:
        await terminal.write(b"\x15")
        await terminal.close()
    return times


def test_noisy_neighbours_hit_their_own_limits_and_the_host_goes_on(neighbours, settings):
    backend, names = neighbours
    quiet = run_async(type_keys(backend, names["quiet"], 3))
    available_before = meminfo("MemAvailable")
    cpu_before = int(cgroup(names["cpu-burner"], "cpuacct", "cpuacct.usage"))
    for kind in NOISE:
        start_noise(backend, names[kind], kind)
    started = time.monotonic()
    noisy = run_async(type_keys(backend, names["quiet"], NOISE_SECONDS))
    elapsed = time.monotonic() - started

    # The quiet learner's shell answered every key, and soon.
    report = (f"quiet echo median {statistics.median(quiet) * 1000:.1f} ms; with the noise median "
              f"{statistics.median(noisy) * 1000:.1f} ms, max {max(noisy) * 1000:.1f} ms over {len(noisy)} keys")
    assert len(noisy) >= NOISE_SECONDS * 2, report
    assert max(noisy) < 2.0, report
    # The host kept its memory and the engine answers.
    assert meminfo("MemAvailable") > min(available_before / 2, 4 << 30)
    backend.ping()
    assert backend.exec(names["quiet"], ["echo", "still here"], 10).output == b"still here\n"

    # And each neighbour was stopped by its own limit (on a busy host a
    # neighbour may take longer than the typing to reach it).
    assert int(cgroup(names["fork-bomb"], "pids", "pids.current")) <= settings.LABDECK_SANDBOX_PIDS
    burned_by = int(cgroup(names["cpu-burner"], "cpuacct", "cpuacct.usage"))
    assert eventually(lambda: int(cgroup(names["fork-bomb"], "pids", "pids.events").split()[-1]) > 0), \
        "the fork bomb never met its PID limit"
    assert eventually(lambda: memory_limit_hit(names["memory-hog"])), "the memory hog never met its memory limit"
    assert eventually(lambda: "quota" in backend.exec(names["disk-filler"], ["cat", "/tmp/fill.log"], 10)
                      .output.decode().lower()), "the disk filler never met its disk quota"
    burned = (burned_by - cpu_before) / 1e9
    assert burned <= elapsed * settings.LABDECK_SANDBOX_CPUS * 1.1 + 1, f"{burned:.1f} s of CPU in {elapsed:.1f} s"
    # It did burn (how much depends on what else this host runs).
    assert burned > min(elapsed * 0.3, 2.0), f"the burner did not burn: {burned:.1f} s of CPU in {elapsed:.1f} s"
