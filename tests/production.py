"""The production layout (deploy/production/) brought up for tests.

PostgreSQL, Redis, web processes behind nginx, the pool keeper and the
checker, under their own supervisord, started by deploy/production/start.sh
as `make production` starts them, but on loopback ports chosen here, with a
database and role of its own (made by start.sh, dropped by stop()), its own
settings file and directory, and the sandbox prefix and network
`labdeck-test-prod`, so that it never touches another Labdeck's sandboxes.

    layout = ProductionLayout()          # or the `production` fixture
    requests.get(layout.url + "/")       # through nginx
    layout.web()                         # [WebProcess(name, port, pid, state)]
    layout.kill_web(0); layout.wait_web(0, not_pid=old)
    layout.restart_web(1)
    layout.apply(LABDECK_WEB_PROCESSES="3")   # a second `make production`
    layout.stop()

`Learner(layout)` and its terminals (tests/support.py) talk to nginx.
"""
from __future__ import annotations

import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import requests

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "deploy" / "production"
# The layout's sandboxes carry the test session's prefix (tests.support), so
# that the session's clean-up removes them; its network keeps one name for
# its one subnet.
PREFIX = f"{os.environ.get('LABDECK_NAME_PREFIX', 'labdeck-test')}-prod"
NETWORK = "labdeck-test-prod"
# What start.sh may take from the caller's environment besides the layout's
# own settings: where the sandbox engine and its images are.
PASSED_ON = ("LABDECK_DOCKER_HOST", "LABDECK_IMAGE_CACHE", "LABDECK_SANDBOX_IMAGE")


@dataclass
class WebProcess:
    name: str
    port: int
    pid: int | None
    state: str


def free_ports(count: int) -> int:
    """The first of `count` consecutive free loopback ports, below Linux's
    ephemeral range, so that no outgoing connection takes one meanwhile."""
    for _ in range(200):
        first = random.randrange(20000, 32000 - count)
        try:
            for port in range(first, first + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {count} consecutive free ports")


def postgres_port() -> int:
    """The port of this machine's PostgreSQL cluster (Debian's pg_lsclusters)."""
    out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout.split()
    return int(out[2]) if len(out) > 2 else 5432


class ProductionLayout:
    def __init__(self, web_processes: int = 2, **env: str):
        self.dir = Path(tempfile.mkdtemp(prefix="labdeck-prod-"))
        self.dir.chmod(0o755)  # nginx's workers read the static files below it
        first = free_ports(web_processes + 2)
        self.port, self.redis_port, self.first_web_port = first, first + 1, first + 2
        self.web_processes = web_processes
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_name = f"labdeck_test_prod_{secrets.token_hex(4)}"
        self.db_port = postgres_port()
        self.redis_password = secrets.token_hex(16)
        self.layout_dir = self.dir / "layout"
        self.env_file = self.dir / "production.env"
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            **{key: os.environ[key] for key in PASSED_ON if key in os.environ},
            "LABDECK_ENV_FILE": str(self.env_file),
            "LABDECK_PRODUCTION_DIR": str(self.layout_dir),
            "LABDECK_HOSTNAME": "127.0.0.1",
            "LABDECK_LISTEN": f"127.0.0.1:{self.port}",
            "LABDECK_WEB_PROCESSES": str(web_processes),
            "LABDECK_WEB_PORT": str(self.first_web_port),
            "LABDECK_PYTHON": sys.executable,
            "DATABASE_URL": f"postgres://{self.db_name}:{secrets.token_hex(16)}@127.0.0.1:{self.db_port}/{self.db_name}",
            "REDIS_URL": f"redis://:{self.redis_password}@127.0.0.1:{self.redis_port}/0",
            "LABDECK_NAME_PREFIX": PREFIX,
            "LABDECK_SANDBOX_NETWORK": NETWORK,
            "LABDECK_SANDBOX_SUBNET": "10.217.0.0/16",
            "LABDECK_SANDBOX_MEMORY": "512m",
            "LABDECK_SANDBOX_DISK": "4g",
            # One warm sandbox shows the keeper at work; few in all.
            "LABDECK_POOL_SIZE": "1",
            "LABDECK_MAX_SANDBOXES": "4",
            **env,
        }
        started = subprocess.run([SCRIPTS / "start.sh"], cwd=ROOT, env=self.env,
                                 capture_output=True, text=True, timeout=300)
        if started.returncode != 0:
            self.stop()
            raise RuntimeError(f"the production layout did not start:\n{started.stdout}\n{started.stderr}")

    def apply(self, **settings: str) -> str:
        """Change settings in the layout's settings file and run start.sh
        again, as a second `make production` does (the programs restart one
        at a time); returns its output."""
        lines = self.env_file.read_text().splitlines()
        for key, value in settings.items():
            lines = [line for line in lines if not line.startswith(f"{key}=")] + [f"{key}={value}"]
        self.env_file.write_text("\n".join(lines) + "\n")
        done = subprocess.run([SCRIPTS / "start.sh"], cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"start.sh failed:\n{done.stdout}\n{done.stderr}")
        self.web_processes = int(settings.get("LABDECK_WEB_PROCESSES", self.web_processes))
        return done.stdout

    # -- the supervisor ---------------------------------------------------------

    def ctl(self, *args: str, check: bool = True) -> str:
        """supervisorctl on the layout's supervisord (status exits 3 while a
        program is not running: check=False)."""
        done = subprocess.run(["supervisorctl", "-c", str(self.layout_dir / "supervisord.conf"), *args],
                              capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"supervisorctl {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def status(self) -> dict[str, tuple[str, int | None]]:
        """Each program's supervisor state and pid."""
        programs = {}
        for line in self.ctl("status", check=False).splitlines():
            match = re.match(r"(\S+)\s+([A-Z]+)\s*(?:pid (\d+))?", line)
            if match:
                programs[match[1]] = (match[2], int(match[3]) if match[3] else None)
        return programs

    def web(self) -> list[WebProcess]:
        programs = self.status()
        processes = []
        for i in range(self.web_processes):
            state, pid = programs.get(f"web-{i}", ("GONE", None))
            processes.append(WebProcess(f"web-{i}", self.first_web_port + i, pid, state))
        return processes

    def web_url(self, i: int) -> str:
        """One web process directly, past nginx."""
        return f"http://127.0.0.1:{self.first_web_port + i}"

    def kill_web(self, i: int) -> int:
        """SIGKILL web-i, as a crash would; the supervisor starts it again.
        Returns the pid it had."""
        pid = self.status()[f"web-{i}"][1]
        self.ctl("signal", "KILL", f"web-{i}")
        return pid

    def restart_web(self, i: int) -> int:
        """Stop web-i gracefully (SIGTERM) and start it again; returns its new
        pid once it answers."""
        pid = self.status()[f"web-{i}"][1]
        self.ctl("restart", f"web-{i}")
        return self.wait_web(i, not_pid=pid)

    def wait_web(self, i: int, not_pid: int | None = None, timeout: float = 60) -> int:
        """Wait until web-i runs (with a pid other than `not_pid`) and
        answers on its own port; returns its pid."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state, pid = self.status().get(f"web-{i}", ("GONE", None))
            if state == "RUNNING" and pid != not_pid:
                try:
                    requests.get(self.web_url(i) + "/", timeout=5)
                    return pid
                except requests.RequestException:
                    pass
            time.sleep(0.2)
        raise AssertionError(f"web-{i} did not come back: {self.status()}\n{self.log(f'web-{i}')[-2000:]}")

    def log(self, program: str) -> str:
        """What a program wrote (the supervisor's log of it)."""
        path = self.layout_dir / "log" / f"{program}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- its databases ----------------------------------------------------------

    def psql(self, sql: str) -> str:
        """One statement in the layout's database, as PostgreSQL's superuser."""
        return subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-p", str(self.db_port),
                               "-d", self.db_name, "-tAc", sql],
                              cwd="/", capture_output=True, text=True, check=True).stdout.strip()

    def redis(self, *args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(self.redis_port), "--no-auth-warning",
                               "-a", self.redis_password, *args],
                              capture_output=True, text=True, check=True).stdout.strip()

    def manage(self, *args: str) -> str:
        """manage.py with the layout's settings, as its programs run it."""
        return subprocess.run([SCRIPTS / "with-env.sh", sys.executable, "manage.py", *args], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, check=True).stdout

    # -- the end ----------------------------------------------------------------

    def stop(self) -> None:
        """Stop every program, remove the layout's sandboxes, drop its
        database and role, remove its directory. PostgreSQL keeps running."""
        subprocess.run([SCRIPTS / "stop.sh"], env=self.env, capture_output=True, timeout=120)
        remove_sandboxes()
        for sql in (f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)', f'DROP ROLE IF EXISTS "{self.db_name}"'):
            subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-p", str(self.db_port),
                            "-c", sql], cwd="/", capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def remove_sandboxes() -> None:
    """Every container and volume of the layout's prefix."""
    from tests.support import engine

    client = engine()
    selector = {"label": f"org.labdeck.instance={PREFIX}"}
    for container in client.containers.list(all=True, filters=selector):
        for attempt in range(3):
            try:
                container.remove(force=True, v=True)
                break
            except docker.errors.NotFound:
                break
            except docker.errors.APIError:
                # Under a heavy load the engine may give up waiting for the
                # kill's exit event ("did not receive an exit event"): again.
                if attempt == 2:
                    raise
                time.sleep(2)
    for volume in client.volumes.list(filters=selector):
        volume.remove(force=True)
