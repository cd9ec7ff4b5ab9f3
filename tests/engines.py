"""Sandbox engines of a test's own, started by deploy/engine/start.sh as on
a real host: for tests that stop, restart or crash an engine (the shared one
of the test session must stay up), or that need several hosts.

    engine = Engine("f1a2")                  # unix:///run/labdeck/test-f1a2.sock
    engine.load_sandbox_image()
    engine.stop(); engine.start()            # a restart: sandboxes keep running
    engine.crash(); engine.start()           # as after a reboot of its host
    engine.close()                           # everything it made, removed

An engine may live in a network namespace of its own and listen on TCP with
mutual TLS there (tests/test_hosts.py), so that it looks like another host.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support import ROOT

START = ROOT / "deploy" / "engine" / "start.sh"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Engine:
    def __init__(self, name: str, netns: str = "", tls_listen: str = "", tls_dir: str = "",
                 size: int = 8 << 30, bridge_ip: str = "10.209.0.1/24", start: bool = True):
        self.name, self.netns = name, netns
        self.work = Path(f"/var/lib/labdeck/test-engine-{name}")
        self.run_dir = Path(f"/run/labdeck/test-{name}")
        self.conf = Path(f"/etc/labdeck/test-{name}")
        self.cgroup = f"labdeck-test-{name}"
        self.socket = f"unix:///run/labdeck/test-{name}.sock"
        self.env = {
            "PATH": PATH,
            "LABDECK_ENGINE_ROOT": str(self.work / "root"),
            "LABDECK_ENGINE_SIZE": str(size),
            "LABDECK_ENGINE_SOCKET": self.socket.removeprefix("unix://"),
            "LABDECK_ENGINE_RUN": str(self.run_dir),
            "LABDECK_ENGINE_CONF": str(self.conf),
            "LABDECK_ENGINE_LOG": f"/var/log/labdeck-test-{name}.log",
            "LABDECK_ENGINE_CGROUP": self.cgroup,
            # A bridge of its own: the shared engine's (ldk-default) stays its own.
            "LABDECK_ENGINE_BRIDGE": f"ldk-t{name}"[:15],
            "LABDECK_ENGINE_BRIDGE_IP": bridge_ip,
        }
        if tls_listen:
            self.env.update(LABDECK_ENGINE_TLS_LISTEN=tls_listen, LABDECK_ENGINE_TLS_DIR=tls_dir)
        self.work.mkdir(parents=True, exist_ok=True)
        if start:
            self.start()

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "-H", self.socket, *args], capture_output=True, text=True, check=check)

    def start(self) -> None:
        """Start the engine (or start it again); returns once it answers."""
        # Nothing changed in its configuration: start.sh would leave a running
        # engine alone, and must start a stopped one.
        command = [str(START)]
        if self.netns:
            # nsenter, not `ip netns exec`: only the network is the
            # namespace's, the mounts (cgroups, the data root) stay the host's.
            command = ["nsenter", f"--net=/run/netns/{self.netns}", *command]
        started = subprocess.run(command, env=self.env, capture_output=True, text=True)
        assert started.returncode == 0, f"engine {self.name} did not start:\n{started.stdout}{started.stderr}"

    def pid(self) -> int | None:
        pidfile = self.run_dir / "engine.pid"
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if Path(f"/proc/{pid}").exists() else None

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to the engine, as `systemctl stop` sends it: live-restore
        keeps its containers running."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    def crash(self) -> None:
        """What a reboot of the host does to the engine: every process of
        its containers, their shims, containerd and the engine die at once,
        and /run is empty afterwards."""
        for _ in range(3):  # processes forked meanwhile
            for pid in self._container_pids():
                _kill(pid)
        for pid in self._engine_pids():
            _kill(pid)
        time.sleep(0.5)
        for point in _mounts_under(self.run_dir):
            subprocess.run(["umount", "-l", point], capture_output=True)
        shutil.rmtree(self.run_dir / "engine", ignore_errors=True)
        (self.run_dir / "engine.pid").unlink(missing_ok=True)

    def _container_pids(self) -> set[int]:
        pids: set[int] = set()
        for controller in ("pids", "memory", "cpu", "freezer"):
            parent = Path("/sys/fs/cgroup") / controller / self.cgroup
            for procs in parent.rglob("cgroup.procs") if parent.is_dir() else ():
                pids.update(int(p) for p in procs.read_text().split())
        return pids

    def _engine_pids(self) -> set[int]:
        """The engine, its containerd and their shims: the processes whose
        command line names this engine's run directory."""
        pids = set()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if str(self.run_dir).encode() + b"/" in cmdline or str(self.conf).encode() + b"/" in cmdline:
                pids.add(int(proc.name))
        return pids

    def load_sandbox_image(self, source: str = "") -> None:
        """The session's sandbox image, copied from the shared engine (or source)."""
        from django.conf import settings

        with tempfile.TemporaryDirectory(dir=self.work) as tmp:
            tar = f"{tmp}/sandbox.tar"
            subprocess.run(["docker", "-H", source or settings.LABDECK_DOCKER_HOST, "save", "-o", tar,
                            settings.LABDECK_SANDBOX_IMAGE], check=True)
            self.docker("load", "-q", "-i", tar)

    def close(self) -> None:
        """Remove its containers, stop it, and remove all it made."""
        if self.pid() is not None:
            ids = self.docker("ps", "-aq", check=False).stdout.split()
            if ids:
                self.docker("rm", "-f", *ids, check=False)
        self.stop()
        self.crash()  # whatever was left running
        for controller in Path("/sys/fs/cgroup").iterdir():
            parent = controller / self.cgroup
            if parent.is_dir():
                for child in sorted(parent.rglob("*"), key=lambda p: -len(p.parts)):
                    if child.is_dir():
                        child.rmdir()
                parent.rmdir()
        subprocess.run(["umount", "-R", str(self.work / "root")], capture_output=True)
        subprocess.run(["ip", "link", "del", self.env["LABDECK_ENGINE_BRIDGE"]], capture_output=True)
        for leftover in (self.work, self.run_dir, self.conf):
            shutil.rmtree(leftover, ignore_errors=True)
        Path(self.socket.removeprefix("unix://")).unlink(missing_ok=True)
        Path(self.env["LABDECK_ENGINE_LOG"]).unlink(missing_ok=True)


def _mounts_under(directory: Path) -> list[str]:
    """Mount points below a directory (the engine's network namespaces), deepest first."""
    prefix = f"{directory}/"
    points = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    return sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
