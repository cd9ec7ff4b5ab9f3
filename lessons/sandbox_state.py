"""Checks on the sandbox itself (chapter 6): processes and their
namespaces, network interfaces, cgroups and files."""
from __future__ import annotations

import json
import shlex

from lessons.probe import Probe

# Every process whose UTS and PID namespaces differ from the sandbox's init,
# with the hostname it sees.
PROCESSES = r"""
init_uts=$(readlink /proc/1/ns/uts); init_pid=$(readlink /proc/1/ns/pid)
for p in /proc/[0-9]*; do
  pid=${p#/proc/}; uts=$(readlink $p/ns/uts 2>/dev/null) || continue; pidns=$(readlink $p/ns/pid 2>/dev/null)
  [ "$uts" != "$init_uts" ] || [ "$pidns" != "$init_pid" ] || continue
  host=$(nsenter -t $pid -u hostname 2>/dev/null)
  echo "$pid $([ "$uts" != "$init_uts" ] && echo 1 || echo 0) $([ "$pidns" != "$init_pid" ] && echo 1 || echo 0) $host"
done
"""


def _process(want: dict, probe: Probe) -> bool:
    for line in probe.sandbox(PROCESSES).splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 3:
            continue
        own_uts, own_pid, hostname = parts[1] == "1", parts[2] == "1", (parts[3] if len(parts) > 3 else "")
        if "hostname" in want and not (own_uts and hostname == want["hostname"]):
            continue
        if want.get("own_pid_ns") and not own_pid:
            continue
        return True
    return False


def _interface(want: dict, probe: Probe) -> bool:
    out = probe.sandbox(f"ip -j link show dev {shlex.quote(str(want['name']))} 2>/dev/null")
    try:
        links = json.loads(out or "[]")
    except json.JSONDecodeError:
        return False
    return any("master" not in want or link.get("master") == want["master"] for link in links)


def _cgroup(want: dict, probe: Probe) -> bool:
    name = shlex.quote(str(want["name"]))
    out = probe.sandbox(
        f"cat /sys/fs/cgroup/memory/{name}/memory.limit_in_bytes 2>/dev/null "
        f"|| cat /sys/fs/cgroup/{name}/memory.max 2>/dev/null || echo missing")
    value = out.strip().splitlines()[-1] if out.strip() else "missing"
    if value == "missing":
        return False
    if "memory_limit" not in want:
        return True
    if not value.isdigit():
        return False
    # cgroup v1 rounds the limit down to a whole page.
    return abs(int(value) - int(want["memory_limit"])) < 4096


def _file(want: dict, probe: Probe) -> bool:
    out = probe.sandbox(f"cat {shlex.quote(str(want['path']))} 2>/dev/null || echo @@missing@@")
    return "@@missing@@" not in out and str(want.get("contains", "")) in out


CHECKS = {"process": _process, "interface": _interface, "cgroup": _cgroup, "file": _file}
