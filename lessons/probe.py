"""One look at a learner's sandbox, shared by every check of a round.

Containers, images, volumes and networks come from the sandbox's own engine,
through its API (sandboxes.inner), on one connection kept for the round;
costlier facts (an image's history, a container's diff or logs, a command's
output) are fetched only when a check asks, and at most once per round. The
shell history is read by the sandbox host from the sandbox's filesystem
(backend.read_file), not by a program of the sandbox. Containers that ran and
were removed (`docker run --rm`) come from the engine watch
(lessons.engine_watch), which saw them go.
"""
from __future__ import annotations

import contextlib
import json
import re
import shlex
import time
from datetime import UTC, datetime
from functools import cached_property

from sandboxes.backends import get_backend
from sandboxes.dockerstream import join
from sandboxes.inner import InnerEngine, InnerEngineError, InnerEngineRefused

HISTORY = "/root/.bash_history"
# Marks the containers a round makes for itself (running an image, looking
# into one), which checks and the engine watch leave out.
PROBE_LABEL = "org.labdeck.probe"
# And the commands it runs in learners' containers, which the engine reports
# as exec events: the `event` checks leave these out.
PROBE_MARK = "labdeck-probe"
HISTORY_LIMIT = 4 << 20
LOG_TAIL = 2000
# What a check may wait for a command it runs (inside a container, or in a
# container made from an image).
RUN_TIMEOUT = 20


class ProbeError(Exception):
    """The sandbox did not answer the probe."""


class ProbeRefused(ProbeError):
    """The sandbox's engine answered the probe with an error status."""


class Probe:
    def __init__(self, handle: str, departed: list[dict] | None = None):
        self.handle = handle
        self.departed = departed or []
        self._cache: dict[tuple, object] = {}
        self._engine: InnerEngine | None = None
        self._nodes: dict[int, Probe] = {}

    def on_node(self, node: int) -> Probe:
        """The probe of another machine of a node set (node 1 is this one),
        made once per round."""
        if node == 1:
            return self
        if node not in self._nodes:
            self._nodes[node] = Probe(get_backend().node_handle(self.handle, node))
        return self._nodes[node]

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        for probe in self._nodes.values():
            probe.close()
        self._nodes.clear()

    def api(self, method: str, path: str, **kwargs):
        """A call to the sandbox's engine; ProbeError if it does not answer."""
        return self._engine_do("call", method, path, **kwargs)

    def _engine_do(self, what: str, *args, **kwargs):
        if self._engine is None:
            self._engine = InnerEngine(self.handle)
        try:
            return getattr(self._engine, what)(*args, **kwargs)
        except InnerEngineRefused as exc:
            raise ProbeRefused(str(exc)) from exc
        except InnerEngineError as exc:
            raise ProbeError(str(exc)) from exc

    def run(self, script: str, timeout: float = 20) -> tuple[int, str]:
        """A shell script in the sandbox itself (chapter 6's checks), bounded."""
        result = get_backend().exec(self.handle, ["sh", "-c", script], timeout, 256 * 1024)
        return result.exit_code, result.output.decode("utf-8", "replace")

    def _memo(self, key: tuple, fetch):
        if key not in self._cache:
            self._cache[key] = fetch()
        return self._cache[key]

    def _list(self, path: str, **params) -> list:
        answer = self.api("GET", path, params=params or None)
        if not isinstance(answer, list):
            raise ProbeError(f"the sandbox's engine gave no list for {path}")
        return answer

    @cached_property
    def containers(self) -> list[dict]:
        """Every container, as `docker inspect` shows it, then the departed."""
        found = []
        for summary in self._list("/containers/json", all="1"):
            if PROBE_LABEL in (summary.get("Labels") or {}):
                continue
            inspected = self.api("GET", f"/containers/{summary.get('Id', '')}/json", missing_ok=True)
            if isinstance(inspected, dict):
                found.append(inspected)
        ids = {c.get("Id") for c in found}
        return found + [c for c in self.departed if c.get("Id") not in ids]

    @cached_property
    def images(self) -> list[dict]:
        found = []
        for summary in self._list("/images/json", all="1"):
            inspected = self.api("GET", f"/images/{summary.get('Id', '')}/json", missing_ok=True)
            if isinstance(inspected, dict):
                found.append(inspected)
        return found

    @cached_property
    def volumes(self) -> list[dict]:
        answer = self.api("GET", "/volumes")
        return (answer or {}).get("Volumes") or [] if isinstance(answer, dict) else []

    @cached_property
    def networks(self) -> list[dict]:
        return self._list("/networks")

    @cached_property
    def swarm_info(self) -> dict:
        """The Swarm part of the engine's `docker info`."""
        answer = self.api("GET", "/info")
        return (answer.get("Swarm") or {}) if isinstance(answer, dict) else {}

    def _manager_list(self, path: str) -> list[dict]:
        """A list only a swarm manager gives; empty elsewhere."""
        if not self.swarm_info.get("ControlAvailable"):
            return []
        try:
            return [item for item in self._list(path) if isinstance(item, dict)]
        except ProbeRefused:
            return []  # it stopped being a manager meanwhile

    @cached_property
    def swarm_nodes(self) -> list[dict]:
        return self._manager_list("/nodes")

    @cached_property
    def swarm_services(self) -> list[dict]:
        return self._manager_list("/services")

    @cached_property
    def swarm_tasks(self) -> list[dict]:
        return self._manager_list("/tasks")

    @cached_property
    def history(self) -> list[str]:
        """Commands the learner typed, oldest first (timestamp lines dropped)."""
        raw = get_backend().read_file(self.handle, HISTORY, HISTORY_LIMIT) or b""
        return [line for line in raw.decode("utf-8", "replace").splitlines()
                if line and not re.match(r"^#\d+$", line)]

    def image_history(self, image_id: str) -> list[str]:
        def fetch():
            layers = self.api("GET", f"/images/{image_id}/history", missing_ok=True) or []
            return [str(layer.get("CreatedBy", "")) for layer in layers if isinstance(layer, dict)]
        return self._memo(("history", image_id), fetch)

    def diff(self, container_id: str) -> list[tuple[str, str]]:
        """(kind, path) pairs: kind A added, C changed, D deleted."""
        def fetch():
            changes = self.api("GET", f"/containers/{container_id}/changes", missing_ok=True) or []
            kinds = {0: "C", 1: "A", 2: "D"}
            return [(kinds.get(c.get("Kind"), "?"), str(c.get("Path", ""))) for c in changes if isinstance(c, dict)]
        return self._memo(("diff", container_id), fetch)

    def logs(self, container_id: str) -> str:
        """What the container printed (its last LOG_TAIL lines)."""
        def fetch():
            for container in self.departed:
                if container.get("Id") == container_id:
                    return container.get("LabdeckLogs", "")
            return container_logs(self, container_id, self._tty(container_id))
        return self._memo(("logs", container_id), fetch)

    def _tty(self, container_id: str) -> bool:
        return any(c.get("Id") == container_id and (c.get("Config") or {}).get("Tty") for c in self.containers)

    def exec_in(self, container_id: str, command: str) -> str:
        """Run `sh -c command` in a running container; what it printed."""
        def fetch():
            created = self.api("POST", f"/containers/{container_id}/exec", missing_ok=True, body={
                "Cmd": ["sh", "-c", f": {PROBE_MARK}; {command}"], "AttachStdout": True, "AttachStderr": True})
            if not isinstance(created, dict):
                return ""
            output = self.api("POST", f"/exec/{created.get('Id', '')}/start", body={"Detach": False, "Tty": False},
                              timeout=RUN_TIMEOUT, limit=256 * 1024, missing_ok=True, raw=True)
            return join(output or b"").decode("utf-8", "replace")
        return self._memo(("exec", container_id, command), fetch)

    def _scratch(self, image: str, cmd: list[str] | None) -> str | None:
        """A container of image, not started, with no network: its id."""
        body = {"Image": image, "HostConfig": {"NetworkMode": "none"}, "Labels": {PROBE_LABEL: "1"}}
        if cmd is not None:
            body["Cmd"] = cmd
        created = self.api("POST", "/containers/create", body=body, missing_ok=True)
        return created.get("Id") if isinstance(created, dict) else None

    def _remove(self, container_id: str) -> None:
        self.api("DELETE", f"/containers/{container_id}", params={"force": "1", "v": "1"}, missing_ok=True)

    def run_image(self, image: str, command: str) -> str:
        """Run a container of image (with command, or its default one) to its
        end, with no network; what it printed."""
        def fetch():
            cid = self._scratch(image, shlex.split(command) if command else None)
            if cid is None:
                return ""
            try:
                try:
                    self.api("POST", f"/containers/{cid}/start")
                except ProbeRefused:
                    return ""  # its command is not in the image, say: it prints nothing
                self.api("POST", f"/containers/{cid}/wait", timeout=RUN_TIMEOUT)
                return container_logs(self, cid, False)
            finally:
                self._remove(cid)
        return self._memo(("run", image, command), fetch)

    def image_has_file(self, image: str, path: str) -> bool:
        """Whether the image's filesystem holds path (asked of the engine:
        the image's files are never copied out)."""
        def fetch():
            cid = self._scratch(image, ["/labdeck-probe"])
            if cid is None:
                return False
            try:
                return self._engine_do("exists", f"/containers/{cid}/archive", {"path": path})
            finally:
                self._remove(cid)
        return self._memo(("file", image, path), fetch)

    def sandbox(self, script: str) -> str:
        return self._memo(("sandbox", script), lambda: self.run(script)[1])

    def events(self) -> list[dict]:
        """The inner engine's recent events (it keeps the last 256)."""
        def fetch():
            answer = self.api("GET", "/events", params={"since": "0", "until": str(int(time.time()))}, raw=True)
            events = []
            for line in answer.splitlines():
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if isinstance(event, dict):
                        events.append(event)
            return events
        return self._memo(("events",), fetch)


def container_logs(probe: Probe, container_id: str, tty: bool) -> str:
    raw = probe.api("GET", f"/containers/{container_id}/logs", missing_ok=True, limit=1 << 20, raw=True,
                    params={"stdout": "1", "stderr": "1", "tail": str(LOG_TAIL)})
    if raw is None:
        return ""
    return (raw if tty else join(raw)).decode("utf-8", "replace")


def recent_commands(handle: str, count: int = 20) -> list[dict]:
    """The learner's last shell commands, newest first, with their times
    (the sandbox's bash writes a `#<epoch>` line before each)."""
    raw = get_backend().read_file(handle, HISTORY, HISTORY_LIMIT) or b""
    commands, at = [], None
    for line in raw.decode("utf-8", "replace").splitlines()[-2 * count:]:
        stamp = re.match(r"^#(\d+)$", line)
        if stamp:
            at = datetime.fromtimestamp(int(stamp.group(1)), UTC).isoformat()
        elif line:
            commands.append({"command": line, "at": at})
    return commands[::-1][:count]
