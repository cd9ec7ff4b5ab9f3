"""Evaluate declarative checks against a probe of the learner's sandbox.

evaluate() walks a condition tree; each leaf kind has one evaluator that
answers True or False from the probe. A failing leaf contributes its
message (what the learner is still missing) to the outcome.
"""
from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from lessons.checks import Condition
from lessons.commandline import DockerCommand, docker_commands
from lessons.probe import PROBE_LABEL, PROBE_MARK, Probe

ZERO_TIME = "0001-01-01T00:00:00Z"
# What Docker grants every container: adding one of these adds nothing.
DEFAULT_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "NET_RAW",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}


@dataclass
class Outcome:
    passed: bool
    missing: list[str] = field(default_factory=list)


def evaluate(condition: Condition, probe: Probe) -> Outcome:
    if condition.kind == "all":
        outcomes = [evaluate(c, probe) for c in condition.children]
        missing = [m for o in outcomes for m in o.missing]
        passed = all(o.passed for o in outcomes)
        return Outcome(passed, [] if passed else (missing or [condition.message]))
    if condition.kind == "any":
        outcomes = [evaluate(c, probe) for c in condition.children]
        if any(o.passed for o in outcomes):
            return Outcome(True)
        return Outcome(False, [condition.message] if condition.message else [m for o in outcomes for m in o.missing])
    if condition.kind == "not":
        inner = evaluate(condition.children[0], probe)
        return Outcome(not inner.passed, [] if not inner.passed else [condition.message or "Something should not be "
                                                                          "there any more."])
    if condition.kind == "node":
        inner = evaluate(condition.children[0], probe.on_node(condition.spec["number"]))
        return Outcome(inner.passed, [] if inner.passed else ([condition.message] if condition.message else
                                                               inner.missing))
    passed = EVALUATORS[condition.kind](condition.spec, probe)
    return Outcome(passed, [] if passed else [condition.message or f"The {condition.kind} check does not hold yet."])


# Names and tags ----------------------------------------------------------

def _split_ref(ref: str) -> tuple[str, str | None]:
    """'docker.io/library/redis:7' -> ('redis', '7'); a digest is dropped."""
    ref = ref.split("@", 1)[0]
    name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    if name.startswith("library/"):
        name = name[len("library/"):]
    return name, (tag or None)


def _ref_matches(wanted: str, ref: str) -> bool:
    want_name, want_tag = _split_ref(wanted)
    name, tag = _split_ref(ref)
    return name == want_name and (want_tag is None or (tag or "latest") == want_tag)


def _image_tags(probe: Probe, image_id: str) -> list[str]:
    for image in probe.images:
        if image["Id"] == image_id:
            return image.get("RepoTags") or []
    return []


def _find_image(probe: Probe, ref: str) -> dict | None:
    for image in probe.images:
        if image["Id"].startswith(ref) or image["Id"].startswith("sha256:" + ref):
            return image
        if any(_ref_matches(ref, tag) for tag in image.get("RepoTags") or []):
            return image
    return None


def _in_range(value: object, want: object) -> bool:
    """want is a number, or [lowest, highest]."""
    if not isinstance(value, int):
        return False
    if isinstance(want, list):
        return int(want[0]) <= value <= int(want[1])
    return value == int(want)


# Containers --------------------------------------------------------------
#
# The probe lists containers as `docker inspect` shows them, and also the
# ones it saw running that have been removed since ("Departed": true, with
# their Config, State and HostConfig as they were). Those count like
# exited containers, except for what needs the container itself (diff, exec).

def _c_image(c: dict, want: str, probe: Probe) -> bool:
    refs = [c["Config"].get("Image", "")] + _image_tags(probe, c.get("Image", ""))
    return any(_ref_matches(want, r) for r in refs if r and not r.startswith("sha256:")) or \
        c.get("Image", "").startswith("sha256:" + want)


def _c_command(c: dict, want: str, probe: Probe) -> bool:
    return str(want) in " ".join([c.get("Path", "")] + (c.get("Args") or []))


def _c_exit_code(c: dict, want: int, probe: Probe) -> bool:
    state = c["State"]
    return not state["Running"] and state.get("FinishedAt", ZERO_TIME) != ZERO_TIME and state["ExitCode"] == want


def _c_ran(c: dict, want: bool, probe: Probe) -> bool:
    """It has started at least once: a container that failed to start never ran."""
    state = c["State"]
    ran = state["Running"] or state.get("StartedAt", ZERO_TIME) != ZERO_TIME or bool(c.get("Departed"))
    return ran == bool(want)


def _c_labels(c: dict, want: dict, probe: Probe) -> bool:
    labels = c["Config"].get("Labels") or {}
    return all(k in labels and (labels[k] == str(v) if v is not None else True) for k, v in want.items())


def _c_ports(c: dict, want: dict, probe: Probe) -> bool:
    ports = (c.get("NetworkSettings") or {}).get("Ports") or {}
    bindings = c["HostConfig"].get("PortBindings") or {}
    for container_port, host_ports in want.items():
        key = str(container_port) if "/" in str(container_port) else f"{container_port}/tcp"
        bound = {b.get("HostPort") for b in (ports.get(key) or []) + (bindings.get(key) or [])}
        expected = host_ports if isinstance(host_ports, list) else [host_ports]
        if not all(str(p) in bound for p in expected):
            return False
    return True


def _c_caps(c: dict, want: str | bool, probe: Probe) -> bool:
    """want: a capability (any case, CAP_ optional), or true for any beyond Docker's default set."""
    names = {cap.upper().removeprefix("CAP_") for cap in c["HostConfig"].get("CapAdd") or []}
    if want is True:
        return bool(names - DEFAULT_CAPABILITIES)
    return str(want).upper().removeprefix("CAP_") in names or "ALL" in names


def _c_swap(c: dict, want: bool, probe: Probe) -> bool:
    """false: memory and swap together are capped at the memory limit (--memory-swap equal to --memory)."""
    host = c["HostConfig"]
    capped = bool(host.get("Memory")) and host.get("MemorySwap") == host.get("Memory")
    return capped != bool(want)


def _mounts(c: dict) -> list[dict]:
    """Its mounts, as `Mounts` shows them, completed from HostConfig (-v and
    --mount as given: all a removed container still has)."""
    mounts = [dict(m) for m in c.get("Mounts") or []]
    host = c.get("HostConfig") or {}
    for bind in host.get("Binds") or []:
        source, _, rest = bind.partition(":")
        destination = rest.split(":", 1)[0]
        named = not source.startswith("/")
        mounts.append({"Type": "volume" if named else "bind", "Name": source if named else "",
                       "Source": source, "Destination": destination})
    for m in host.get("Mounts") or []:
        kind = m.get("Type", "")
        mounts.append({"Type": kind, "Name": m.get("Source", "") if kind == "volume" else "",
                       "Source": m.get("Source", ""), "Destination": m.get("Target", "")})
    return mounts


def _c_mounts(c: dict, want: list, probe: Probe) -> bool:
    mounts = _mounts(c)
    fields = {"type": "Type", "name": "Name", "destination": "Destination", "source": "Source"}
    return all(any(all(str(m.get(fields[k], "")) == str(v) for k, v in w.items()) for m in mounts) for w in want)


def _c_tmpfs(c: dict, want: bool, probe: Probe) -> bool:
    """A tmpfs mount given with `--mount type=tmpfs` (the `--tmpfs` shortcut does not count)."""
    has = any(m["Type"] == "tmpfs" for m in _mounts(c))
    return has == bool(want)


def _c_shares_volumes_with(c: dict, want: dict, probe: Probe) -> bool:
    """It uses --volumes-from another container that matches want, or mounts a
    volume that such a container mounts too."""
    mine = {m["Name"] for m in _mounts(c) if m["Type"] == "volume" and m["Name"]}
    sources = [ref.split(":", 1)[0] for ref in c["HostConfig"].get("VolumesFrom") or []]
    for other in probe.containers:
        if other["Id"] == c["Id"] or not all(CONTAINER_FILTERS[k](other, v, probe) for k, v in want.items()):
            continue
        if any(ref == other["Name"].lstrip("/") or other["Id"].startswith(ref) for ref in sources):
            return True
        if mine & {m["Name"] for m in _mounts(other) if m["Type"] == "volume" and m["Name"]}:
            return True
    return False


def _c_restarted(c: dict, want: bool, probe: Probe) -> bool:
    state = c["State"]
    finished = state.get("FinishedAt", ZERO_TIME)
    again = finished != ZERO_TIME and state.get("StartedAt", ZERO_TIME) > finished
    return (again or c.get("RestartCount", 0) > 0) == bool(want)


def _c_diff(c: dict, want: dict, probe: Probe) -> bool:
    """added/deleted/changed: a path, or true for any; untouched: a path the diff does not list."""
    if c.get("Departed"):
        return False  # its filesystem went with it
    changes = probe.diff(c["Id"])
    kinds = {"added": "A", "deleted": "D", "changed": "C"}
    for key, path in want.items():
        if key == "untouched":
            if any(changed == str(path) for _, changed in changes):
                return False
        elif path is True:
            if not any(kind == kinds[key] for kind, _ in changes):
                return False
        elif (kinds[key], str(path)) not in changes:
            return False
    return True


def _c_exec(c: dict, want: dict, probe: Probe) -> bool:
    if not c["State"]["Running"] or c.get("Departed"):
        return False
    return re.search(str(want.get("output", "")), probe.exec_in(c["Id"], str(want["run"])), re.M) is not None


CONTAINER_FILTERS: dict[str, Callable[[dict, object, Probe], bool]] = {
    "image": _c_image,
    "name": lambda c, want, p: c["Name"].lstrip("/") == want,
    "command": _c_command,
    "running": lambda c, want, p: c["State"]["Running"] == bool(want),
    "departed": lambda c, want, p: bool(c.get("Departed")) == bool(want),
    "ran": _c_ran,
    "exit_code": _c_exit_code,
    "detached": lambda c, want, p: (not c["Config"].get("AttachStdout")) == bool(want),
    "labels": _c_labels,
    "publish_all": lambda c, want, p: bool(c["HostConfig"].get("PublishAllPorts")) == bool(want),
    "ports": _c_ports,
    "memory": lambda c, want, p: _in_range(c["HostConfig"].get("Memory"), want),
    "memory_swap": lambda c, want, p: _in_range(c["HostConfig"].get("MemorySwap"), want),
    "swap": _c_swap,
    "cpus": lambda c, want, p: bool(c["HostConfig"].get("NanoCpus") or c["HostConfig"].get("CpusetCpus")
                                    or (c["HostConfig"].get("CpuQuota") or 0) > 0) == bool(want),
    "cap_add": _c_caps,
    "volumes_from": lambda c, want, p: bool(c["HostConfig"].get("VolumesFrom")) == bool(want),
    "mounts": _c_mounts,
    "tmpfs": _c_tmpfs,
    "restarted": _c_restarted,
    "shares_volumes_with": _c_shares_volumes_with,
    # The costly ones last: they ask the sandbox again.
    "diff": _c_diff,
    "logs": lambda c, want, p: re.search(str(want), p.logs(c["Id"]), re.M) is not None,
    "exec": _c_exec,
}
ORDER = list(CONTAINER_FILTERS)


def _container(spec: dict, probe: Probe) -> bool:
    wanted = int(spec.get("count", 1))
    filters = sorted((k for k in spec if k != "count"), key=ORDER.index)
    found = 0
    for container in probe.containers:
        if all(CONTAINER_FILTERS[k](container, spec[k], probe) for k in filters):
            found += 1
            if found >= wanted:
                return True
    return False


# Images ------------------------------------------------------------------

def _is_exec_form(values: list | None) -> bool:
    return bool(values) and values[:2] != ["/bin/sh", "-c"]


def _layers(image: dict) -> list[str]:
    return (image.get("RootFS") or {}).get("Layers") or []


def _default_command(image: dict) -> list[str]:
    """What `docker run IMAGE` runs: its ENTRYPOINT, then its CMD."""
    return (image["Config"].get("Entrypoint") or []) + (image["Config"].get("Cmd") or [])


def _entrypoint(image: dict, want: list) -> bool:
    """Exactly want; a program named without a path in want also matches it with one (/usr/bin/figlet)."""
    have, want = image["Config"].get("Entrypoint") or [], [str(w) for w in want]
    if have and want and "/" not in want[0]:
        have = [have[0].rsplit("/", 1)[-1]] + have[1:]
    return have == want


def _run_exec_form(history: list[str]) -> bool:
    for created_by in history:
        line = created_by.strip()
        if line.startswith("RUN "):  # BuildKit
            if not line[4:].startswith("/bin/sh -c"):
                return True
        elif line and not line.startswith("/bin/sh -c") and not line.startswith("Imported from") \
                and not re.match(r"^[A-Z]+ ", line) and "#(nop)" not in line:
            return True  # the classic builder records an exec-form RUN as its bare argv
    return False


IMAGE_FILTERS: dict[str, Callable[[dict, object, Probe], bool]] = {
    "tag": lambda i, want, p: any(_ref_matches(want, t) for t in i.get("RepoTags") or []),
    "tag_matches": lambda i, want, p: any(re.search(want, t) for t in i.get("RepoTags") or []),
    "not_tag": lambda i, want, p: any((_split_ref(t)[1] or "latest") != want for t in i.get("RepoTags") or []),
    "cmd": lambda i, want, p: str(want) in " ".join(i["Config"].get("Cmd") or []),
    "runs": lambda i, want, p: str(want) in " ".join(_default_command(i)),
    "entrypoint": lambda i, want, p: _entrypoint(i, want),
    "exec_form": lambda i, want, p: all(
        _is_exec_form(i["Config"].get({"cmd": "Cmd", "entrypoint": "Entrypoint"}[w])) for w in want),
    "same_id_as": lambda i, want, p: (other := _find_image(p, want)) is not None and other["Id"] == i["Id"],
    "smaller_than": lambda i, want, p: (other := _find_image(p, want)) is not None and i["Size"] < other["Size"],
    "based_on": lambda i, want, p: (base := _find_image(p, want)) is not None and _layers(i)[:len(_layers(base))]
    == _layers(base) and i["Id"] != base["Id"],
    "history": lambda i, want, p: any(re.search(want, line) for line in p.image_history(i["Id"])),
    "run_exec_form": lambda i, want, p: _run_exec_form(p.image_history(i["Id"])) == bool(want),
    "lacks_file": lambda i, want, p: not p.image_has_file(i["Id"], str(want)),
    "has_file": lambda i, want, p: p.image_has_file(i["Id"], str(want)),
    "output": lambda i, want, p: re.search(str(want.get("output", "")),
                                           p.run_image(i["Id"], str(want.get("run", "")))) is not None,
}
IMAGE_ORDER = list(IMAGE_FILTERS)


def _image(spec: dict, probe: Probe) -> bool:
    filters = sorted(spec, key=IMAGE_ORDER.index)
    return any(all(IMAGE_FILTERS[k](image, spec[k], probe) for k in filters) for image in probe.images)


# The rest ----------------------------------------------------------------

def _history(pattern: str, probe: Probe) -> bool:
    regex = re.compile(pattern)
    return any(regex.search(line) for line in probe.history)


def _command_image(command: DockerCommand, want: str) -> bool:
    position = IMAGE_ARGUMENT.get(command.name)
    return position is not None and len(command.args) > position and _ref_matches(want, command.args[position])


def _command_options(command: DockerCommand, want: dict) -> bool:
    """Each option given (a regex on one of its values), or not given (null)."""
    for option, pattern in want.items():
        values = command.options.get(option)
        if pattern is None:
            if values is not None:
                return False
        elif values is None or not any(re.search(str(pattern), value) for value in values):
            return False
    return True


# Where a command names its image: `docker run IMAGE`, `docker commit CONTAINER IMAGE`.
IMAGE_ARGUMENT = {"run": 0, "create": 0, "pull": 0, "push": 0, "history": 0, "commit": 1}
COMMAND_FILTERS: dict[str, Callable[[DockerCommand, object], bool]] = {
    "name": lambda c, want: c.name in ([want] if isinstance(want, str) else want),
    "options": _command_options,
    "image": _command_image,
    "args": lambda c, want: len(c.args) >= int(want),
}


def _command(spec: dict, probe: Probe) -> bool:
    """Some docker command typed in the shell, read as the CLI reads it (lessons/commandline.py)."""
    return any(all(COMMAND_FILTERS[k](command, v) for k, v in spec.items())
               for line in probe.history for command in docker_commands(line))


def _event(spec: dict, probe: Probe) -> bool:
    for event in probe.events():
        if spec.get("type") and event.get("Type") != spec["type"]:
            continue
        action = event.get("Action", "")
        if PROBE_MARK in action or PROBE_LABEL in ((event.get("Actor") or {}).get("Attributes") or {}):
            continue  # what the checker itself did
        if spec.get("action") and not (action == spec["action"] or action.startswith(spec["action"] + ":")):
            continue
        # exec_start's action carries the command run: "exec_start: sh -c echo hi".
        if "detail" in spec and not re.search(str(spec["detail"]), action.partition(":")[2].strip()):
            continue
        if spec.get("name") and (event.get("Actor") or {}).get("Attributes", {}).get("name") != spec["name"]:
            continue
        return True
    return False


# Every process in a PID namespace other than the sandbox's, and the PID
# namespace of the /proc it sees (through its own root): the same one when
# it has a /proc of its own (unshare --mount-proc, a container).
OWN_PROC = r"""
init_pid=$(readlink /proc/1/ns/pid)
for p in /proc/[0-9]*; do
  ns=$(readlink $p/ns/pid 2>/dev/null) || continue
  [ "$ns" != "$init_pid" ] || continue
  echo "$ns $(readlink $p/root/proc/1/ns/pid 2>/dev/null)"
done
"""


def _own_proc(want: bool, probe: Probe) -> bool:
    own = any(len(pair) == 2 and pair[0] == pair[1] for pair in
              (line.split() for line in probe.sandbox(OWN_PROC).splitlines()))
    return own == bool(want)


def _interface(want: dict, probe: Probe) -> bool:
    """sandbox_state's interface check, plus `kind`: the link's type (veth, dummy, bridge...)."""
    from lessons import sandbox_state

    if not sandbox_state.CHECKS["interface"]({k: v for k, v in want.items() if k != "kind"}, probe):
        return False
    if "kind" not in want:
        return True
    out = probe.sandbox(f"ip -j -d link show dev {shlex.quote(str(want['name']))} 2>/dev/null")
    try:
        links = json.loads(out or "[]")
    except json.JSONDecodeError:
        return False
    return any((link.get("linkinfo") or {}).get("info_kind") == want["kind"] for link in links)


# Checks on the sandbox beyond lessons/sandbox_state.py's (kept here while
# that module is reworked with the probe).
SANDBOX_CHECKS: dict[str, Callable[[object, Probe], bool]] = {"own_proc": _own_proc, "interface": _interface}


def _sandbox(spec: dict, probe: Probe) -> bool:
    from lessons import sandbox_state

    checks = {**sandbox_state.CHECKS, **SANDBOX_CHECKS}
    return all(checks[key](value, probe) for key, value in spec.items())


# Swarm mode (the course "Three nodes, one swarm") --------------------------

def _swarm_node(node: dict, want: dict) -> bool:
    description, spec, status = node.get("Description") or {}, node.get("Spec") or {}, node.get("Status") or {}
    found = {"hostname": description.get("Hostname"), "role": spec.get("Role"),
             "availability": spec.get("Availability"), "state": status.get("State")}
    return all(found[key] == value for key, value in want.items())


def _swarm(spec: dict, probe: Probe) -> bool:
    """This machine's place in a swarm (`docker info`), and what its
    managers know of the swarm's nodes (`docker node ls`)."""
    swarm = probe.swarm_info
    if "state" in spec and swarm.get("LocalNodeState") != spec["state"]:
        return False
    if "manager" in spec and bool(swarm.get("ControlAvailable")) != spec["manager"]:
        return False
    ready = [n for n in probe.swarm_nodes if (n.get("Status") or {}).get("State") == "ready"]
    if "nodes" in spec and len(ready) < spec["nodes"]:
        return False
    return "node" not in spec or any(_swarm_node(n, spec["node"]) for n in probe.swarm_nodes)


def _service_tasks(service: dict, probe: Probe) -> list[dict]:
    """The service's tasks that run now (not the ones it replaced)."""
    return [t for t in probe.swarm_tasks if t.get("ServiceID") == service.get("ID")
            and (t.get("Status") or {}).get("State") == "running" and t.get("DesiredState") == "running"]


def _service_matches(service: dict, spec: dict, probe: Probe) -> bool:
    definition = service.get("Spec") or {}
    task = definition.get("TaskTemplate") or {}
    image = ((task.get("ContainerSpec") or {}).get("Image") or "").split("@")[0]
    running = _service_tasks(service, probe)
    hostnames = {n.get("ID"): (n.get("Description") or {}).get("Hostname") for n in probe.swarm_nodes}
    on = {hostnames.get(t.get("NodeID")) for t in running}
    ports = [p.get("PublishedPort") for p in (definition.get("EndpointSpec") or {}).get("Ports") or []]
    checks = {
        "name": lambda want: definition.get("Name") == want,
        "image": lambda want: _ref_matches(str(want), image),
        "replicas": lambda want: ((definition.get("Mode") or {}).get("Replicated") or {}).get("Replicas") == want,
        "running": lambda want: len(running) >= want,
        "spread": lambda want: len(on) >= want,
        "published": lambda want: want in ports,
        "updated": lambda want: ((service.get("UpdateStatus") or {}).get("State") == "completed") == want,
        "not_on": lambda want: bool(running) and want not in on,
    }
    return all(checks[key](value) for key, value in spec.items())


def _service(spec: dict, probe: Probe) -> bool:
    """A swarm service (asked of a manager), its tasks and where they run."""
    return any(_service_matches(service, spec, probe) for service in probe.swarm_services)


EVALUATORS: dict[str, Callable[[object, Probe], bool]] = {
    "container": _container,
    "image": _image,
    "volume": lambda spec, p: any(v.get("Name") == spec["name"] for v in p.volumes),
    "network": lambda spec, p: any(n.get("Name") == spec["name"] for n in p.networks),
    "history": _history,
    "command": _command,
    "event": _event,
    "sandbox": _sandbox,
    "swarm": _swarm,
    "service": _service,
}


def evaluate_in(condition: Condition, handle: str) -> Outcome:
    """evaluate() against a probe of its own, closed afterwards."""
    with Probe(handle) as probe:
        return evaluate(condition, probe)
