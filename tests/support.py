"""Shared test helpers: a live Labdeck server, learners, terminal clients."""
from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import docker
import requests
from websockets.sync.client import connect

from sandboxes import protocol

ROOT = Path(__file__).resolve().parent.parent
PREFIX = os.environ.get("LABDECK_NAME_PREFIX", "labdeck-test")
# What every test session's prefix starts with.
TESTS = "labdeck-test"
# Another session's sandboxes older than this are leftovers of a run that died.
LEFTOVER_AFTER = 3 * 3600


def run_async(coro):
    """asyncio.run in a thread of its own: once a browser test has run,
    Playwright's sync API keeps an event loop running in the main thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class LiveServer:
    """The web process (labdeck.serve) and the pool keeper in subprocesses, on a fresh SQLite file.

    Its sandboxes carry a name prefix of its own: another server's keeper
    would take them for orphans (no row in its database) and remove them."""

    def __init__(self, keeper: bool = True, **env: str):
        self.dir = tempfile.mkdtemp(prefix="labdeck-live-")
        self.prefix = env.pop("LABDECK_NAME_PREFIX", f"{PREFIX}-{secrets.token_hex(3)}")
        # The listening socket is made here and handed to the web process, so that no
        # other process can take the port in between (and no other server can
        # answer in this one's place).
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "LABDECK_SQLITE_PATH": f"{self.dir}/db.sqlite3",
            "LABDECK_NAME_PREFIX": self.prefix,
            # The port the site is served on, as `make run` tells it: the
            # websocket origins and the preview host follow from it.
            "LABDECK_PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=self.env, check=True)
        self.log = open(f"{self.dir}/server.log", "w+")
        with listener:
            self.procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "labdeck.serve", "--fd", str(listener.fileno()), "labdeck.asgi:application"],
                    cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, pass_fds=[listener.fileno()],
                )
            ]
        if keeper:
            self.procs.append(subprocess.Popen(
                [sys.executable, "manage.py", "sandboxd", "--interval", "0.5"],
                cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
            ))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(proc.poll() is not None for proc in self.procs):
                break
            try:
                requests.get(self.url + "/", timeout=5)
                return
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("live server did not start:\n" + self.output())

    @property
    def pid(self) -> int:
        return self.procs[0].pid

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def manage(self, *args: str) -> str:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                              check=True, capture_output=True, text=True).stdout

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


class Learner:
    """A browser-less learner: a cookie jar that talks to the live server."""

    def __init__(self, server: LiveServer):
        self.server = server
        self.http = requests.Session()
        self.http.get(server.url + "/")

    def start(self, timeout: float = 60, course: str = "") -> dict:
        """Ask for a sandbox (of a course's number of machines) until it is
        ready or the answer is another."""
        deadline = time.monotonic() + timeout
        url = self.server.url + (f"/courses/{course}/sandbox/start" if course else "/sandbox/start")
        while True:
            info = self.http.post(url, headers={"X-CSRFToken": self.http.cookies.get("csrftoken", "")}).json()
            if info["state"] not in ("starting",) or time.monotonic() > deadline:
                return info
            time.sleep(0.15)  # as often as the page asks (static/js/sandbox.js)

    def progress_socket(self, course: str = "intro"):
        """The player's progress websocket, as the learner's page opens it."""
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.get_dict().items())
        return connect(self.server.url.replace("http", "ws") + f"/ws/progress/{course}/",  # noqa: SIM115
                       origin=self.server.url, additional_headers={"Cookie": cookie}, legacy=True)

    def terminal(self, info: dict, origin: str | None = None) -> TerminalClient:
        return TerminalClient(self.server, info["terminal_url"], self.http.cookies.get_dict(), origin)


class TerminalClient:
    """Speaks the terminal protocol; acknowledges output unless told not to."""

    def __init__(self, server: LiveServer, path: str, cookies: dict, origin: str | None = None):
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self.ws = connect(  # noqa: SIM115 (closed by close())
            server.url.replace("http", "ws") + path,
            additional_headers={"Cookie": cookie},
            origin=origin or server.url,
            max_size=None,
            legacy=True,
        )
        self.screen = b""
        self.statuses: list[dict] = []
        self.exit_code: int | None = None
        self.auto_ack = True
        self.end = 0  # where the last read_until or read_line match ended

    def send(self, text: str | bytes) -> None:
        self.ws.send(protocol.input_frame(text.encode() if isinstance(text, str) else text))

    def recv(self, timeout: float) -> bytes | None:
        import json

        try:
            frame = self.ws.recv(timeout=timeout)
        except TimeoutError:
            return None
        kind, payload = frame[0], frame[1:]
        if kind == protocol.OUTPUT:
            self.screen += payload
            if self.auto_ack:
                self.ws.send(protocol.ack_frame(len(payload)))
            return payload
        if kind == protocol.STATUS:
            self.statuses.append(json.loads(payload))
        elif kind == protocol.EXIT:
            self.exit_code = json.loads(payload)["code"]
        return b""

    def read_until(self, needle: bytes | str, timeout: float = 20, since: int | None = None) -> bytes:
        """Wait for needle in the output that came after ``since`` (an offset
        into the screen; by default, what is still to come). Output that
        arrives in one piece with an earlier match counts when ``since`` is
        that match's ``end``."""
        needle = needle.encode() if isinstance(needle, str) else needle
        start = len(self.screen) if since is None else since
        deadline = time.monotonic() + timeout
        while (found := self.screen.find(needle, start)) < 0:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{needle!r} not seen; screen ends with {self.screen[-500:]!r}")
            self.recv(left)
        self.end = found + len(needle)
        return self.screen[start:]

    def read_line(self, line: str, timeout: float = 20, since: int | None = None) -> None:
        """Wait until a whole line of output, without its escape sequences, is
        line; ``end`` is then where it ends in the screen (as read_until)."""
        start = len(self.screen) if since is None else since
        deadline = time.monotonic() + timeout
        while line not in plain_lines(self.screen[start:]):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line {line!r}; screen ends with {self.screen[-500:]!r}")
            self.recv(left)
        raw = self.screen.rfind(line.encode(), start)
        self.end = raw + len(line.encode()) if raw >= 0 else len(self.screen)

    def close(self) -> None:
        self.ws.close()


# CSI, OSC (ended by BEL or ST), DCS, charset and single-character escapes.
_ESCAPES = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|P[^\x1b]*\x1b\\"
                      rb"|[()][A-Z0-9]|[=>78DEHMc])")


def plain_lines(output: bytes) -> list[str]:
    """Terminal output as the lines a person reads, escape sequences left out."""
    text = _ESCAPES.sub(b"", output).decode("utf-8", "replace")
    return [line.strip() for line in re.split(r"\r?\n|\r", text)]


def engine() -> docker.DockerClient:
    """The sandbox engine the tests' sandboxes run on (not the host's Docker)."""
    from django.conf import settings

    return docker.DockerClient(base_url=settings.LABDECK_DOCKER_HOST)


def remove_test_sandboxes() -> None:
    """Remove every container and volume this test session made (their
    instance label starts with its prefix), and other sessions' leftovers
    older than LEFTOVER_AFTER."""
    client = engine()

    def ours(labels: dict, created: str = "") -> bool:
        instance = (labels or {}).get("org.labdeck.instance", "")
        if instance.startswith(PREFIX):
            return True
        if not instance.startswith(TESTS) or not created:
            return False
        age = time.time() - datetime.fromisoformat(created[:19]).replace(tzinfo=UTC).timestamp()
        return age > LEFTOVER_AFTER

    for container in client.containers.list(all=True, filters={"label": "org.labdeck.instance"}):
        if not ours(container.labels, container.attrs.get("Created", "")):
            continue
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):  # being removed already
            container.remove(force=True, v=True)
    for volume in client.volumes.list(filters={"label": "org.labdeck.instance"}):
        if ours(volume.attrs.get("Labels"), volume.attrs.get("CreatedAt", "")):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                volume.remove(force=True)
    for network in client.networks.list(filters={"label": "org.labdeck.nodes"}):  # node sets' own
        if ours(network.attrs.get("Labels"), network.attrs.get("Created", "")):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                network.remove()


class Watching:
    """An engine watch (lessons.engine_watch) of a sandbox, run in a thread of
    its own while a test acts, as a learner's page or the checker does."""

    def __init__(self, handle: str):
        from lessons.engine_watch import EngineWatch

        self.events: list[dict] = []
        self.watch = EngineWatch(handle, self.events.append)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Watching:
        self.thread.start()
        self.task = asyncio.run_coroutine_threadsafe(self._run(), self.loop)
        deadline = time.monotonic() + 10
        while not self.watch.following and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def departed(self, settle: float = 1.0) -> list[dict]:
        time.sleep(settle)
        return self.watch.departed_list()

    async def _run(self) -> None:
        self.running = asyncio.current_task()
        await self.watch.run()

    async def _stop(self) -> None:
        self.running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.running

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


# What a hostile or careless learner runs to starve the host (tests/test_noisy.py, bench/noisy.py).
NOISE = {
    "fork-bomb": "bomb() { bomb | bomb & }; bomb",
    "memory-hog": "while true; do head -c 2000m /dev/zero | tail > /dev/null; done",
    "disk-filler": "dd if=/dev/zero of=/root/fill bs=1M 2>/tmp/fill.log; sleep 3600",
    "cpu-burner": "for i in 1 2 3 4; do (while :; do :; done) & done; wait",
}


def start_noise(backend, handle: str, kind: str) -> None:
    """Start one kind of NOISE in a sandbox, in the background."""
    backend.exec(handle, ["sh", "-c", f"nohup sh -c '{NOISE[kind]}' >/dev/null 2>&1 &"], 10)


def ready_sandbox(owner: str, group: str = ""):
    """pool.place() for an in-process test, which has no pool keeper: the
    sandbox it asked for is started here, as the keeper would."""
    from sandboxes import lifecycle, pool
    from sandboxes.models import Sandbox

    placement = pool.place(owner, group)
    if placement.sandbox is not None and placement.sandbox.state == Sandbox.STARTING:
        lifecycle.start(placement.sandbox)
        placement = pool.place(owner, group)
    return placement


@contextlib.contextmanager
def own_sandbox(kind: str):
    """A sandbox of a test module's own, made through the backend (no web
    process), ready; removed at the end. Yields its handle."""
    from sandboxes.backends import get_backend

    backend = get_backend()
    name = f"labdeck-test-{kind}-{secrets.token_hex(3)}"
    backend.create(name, {})
    try:
        backend.wait_ready(name, 60)
        yield name
    finally:
        backend.destroy(name)
