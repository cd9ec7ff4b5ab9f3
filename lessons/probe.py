"""One look at a learner's sandbox, shared by every check of a round.

The snapshot of containers, images, volumes, networks and the shell history
comes from one command in the sandbox; costlier facts (an image's history,
a container's diff or logs, a command's output) are fetched only when a
check asks, and at most once per round. All of it goes through the sandbox
backend, from the platform.
"""
from __future__ import annotations

import json
import re
import shlex
from datetime import UTC, datetime
from functools import cached_property

from sandboxes.backends import get_backend

SEPARATOR = "@@labdeck-probe@@"
SNAPSHOT = f"""
ids=$(docker ps -aq --no-trunc 2>/dev/null); [ -n "$ids" ] && docker inspect $ids 2>/dev/null || echo '[]'
echo {SEPARATOR}
ids=$(docker image ls -aq --no-trunc 2>/dev/null | sort -u); [ -n "$ids" ] && docker image inspect $ids 2>/dev/null \
  || echo '[]'
echo {SEPARATOR}
docker volume ls --format '{{{{json .}}}}' 2>/dev/null
echo {SEPARATOR}
docker network ls --format '{{{{json .}}}}' 2>/dev/null
echo {SEPARATOR}
cat /root/.bash_history 2>/dev/null
"""


class ProbeError(Exception):
    """The sandbox did not answer the probe."""


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


class Probe:
    def __init__(self, handle: str):
        self.handle = handle
        self._cache: dict[tuple, object] = {}

    def run(self, script: str, timeout: float = 20) -> tuple[int, str]:
        result = get_backend().exec(self.handle, ["sh", "-c", script], timeout)
        return result.exit_code, result.output.decode("utf-8", "replace")

    def _memo(self, key: tuple, fetch):
        if key not in self._cache:
            self._cache[key] = fetch()
        return self._cache[key]

    @cached_property
    def _snapshot(self) -> list[str]:
        _, out = self.run(SNAPSHOT)
        parts = out.split(SEPARATOR + "\n")
        if len(parts) != 5:
            raise ProbeError("the sandbox's engine did not answer")
        return parts

    def _inspected(self, part: int, what: str) -> list[dict]:
        try:
            return json.loads(self._snapshot[part] or "[]")
        except json.JSONDecodeError as exc:
            raise ProbeError(f"unreadable {what} list: {exc}") from exc

    @cached_property
    def containers(self) -> list[dict]:
        return self._inspected(0, "container")

    @cached_property
    def images(self) -> list[dict]:
        return self._inspected(1, "image")

    @cached_property
    def volumes(self) -> list[dict]:
        return _json_lines(self._snapshot[2])

    @cached_property
    def networks(self) -> list[dict]:
        return _json_lines(self._snapshot[3])

    @cached_property
    def history(self) -> list[str]:
        """Commands the learner typed, oldest first (timestamp lines dropped)."""
        return [line for line in self._snapshot[4].splitlines() if line and not re.match(r"^#\d+$", line)]

    def image_history(self, image_id: str) -> list[str]:
        def fetch():
            _, out = self.run(f"docker history --no-trunc --format '{{{{.CreatedBy}}}}' {shlex.quote(image_id)}")
            return out.splitlines()
        return self._memo(("history", image_id), fetch)

    def diff(self, container_id: str) -> list[tuple[str, str]]:
        """(kind, path) pairs: kind A added, C changed, D deleted."""
        def fetch():
            _, out = self.run(f"docker diff {shlex.quote(container_id)} 2>/dev/null")
            return [tuple(line.split(" ", 1)) for line in out.splitlines() if " " in line]
        return self._memo(("diff", container_id), fetch)

    def logs(self, container_id: str) -> str:
        def fetch():
            return self.run(f"docker logs --tail 2000 {shlex.quote(container_id)} 2>&1")[1]
        return self._memo(("logs", container_id), fetch)

    def exec_in(self, container_id: str, command: str) -> str:
        def fetch():
            return self.run(f"docker exec {shlex.quote(container_id)} sh -c {shlex.quote(command)} 2>&1", 15)[1]
        return self._memo(("exec", container_id, command), fetch)

    def run_image(self, image: str, command: str) -> str:
        def fetch():
            cmd = f"docker run --rm --network none {shlex.quote(image)} {command}"
            return self.run(f"{cmd} 2>&1", 20)[1]
        return self._memo(("run", image, command), fetch)

    def image_files(self, image: str) -> set[str]:
        def fetch():
            _, out = self.run(
                f"c=$(docker create {shlex.quote(image)} /x 2>/dev/null) && "
                f"{{ docker export $c | tar -tf - ; docker rm $c >/dev/null; }}", 30)
            return {"/" + line.rstrip("/").lstrip("./") for line in out.splitlines()}
        return self._memo(("files", image), fetch)

    def sandbox(self, script: str) -> str:
        return self._memo(("sandbox", script), lambda: self.run(script)[1])

    def events(self) -> list[dict]:
        """The inner engine's recent events (it keeps the last 256)."""
        def fetch():
            _, out = self.run("docker events --since 0 --until \"$(date +%s)\" --format '{{json .}}' 2>/dev/null")
            return _json_lines(out)
        return self._memo(("events",), fetch)


def recent_commands(handle: str, count: int = 20) -> list[dict]:
    """The learner's last shell commands, newest first, with their times
    (the sandbox's bash writes a `#<epoch>` line before each)."""
    result = get_backend().exec(handle, ["sh", "-c", f"tail -n {2 * count} /root/.bash_history 2>/dev/null"], 10)
    commands, at = [], None
    for line in result.output.decode("utf-8", "replace").splitlines():
        stamp = re.match(r"^#(\d+)$", line)
        if stamp:
            at = datetime.fromtimestamp(int(stamp.group(1)), UTC).isoformat()
        elif line:
            commands.append({"command": line, "at": at})
    return commands[::-1][:count]
