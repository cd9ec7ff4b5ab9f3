"""Evaluate declarative checks against a probe of the learner's sandbox.

evaluate() walks a condition tree; each leaf kind has one evaluator that
answers True or False from the probe. A failing leaf contributes its
message (what the learner is still missing) to the outcome.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from lessons.checks import Condition
from lessons.probe import Probe

ZERO_TIME = "0001-01-01T00:00:00Z"


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


# Containers --------------------------------------------------------------

def _c_image(c: dict, want: str, probe: Probe) -> bool:
    refs = [c["Config"].get("Image", "")] + _image_tags(probe, c.get("Image", ""))
    return any(_ref_matches(want, r) for r in refs if r and not r.startswith("sha256:")) or \
        c.get("Image", "").startswith("sha256:" + want)


def _c_command(c: dict, want: str, probe: Probe) -> bool:
    return str(want) in " ".join([c.get("Path", "")] + (c.get("Args") or []))


def _c_exit_code(c: dict, want: int, probe: Probe) -> bool:
    state = c["State"]
    return not state["Running"] and state.get("FinishedAt", ZERO_TIME) != ZERO_TIME and state["ExitCode"] == want


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


def _c_caps(c: dict, want: str, probe: Probe) -> bool:
    names = {cap.upper().removeprefix("CAP_") for cap in c["HostConfig"].get("CapAdd") or []}
    return str(want).upper().removeprefix("CAP_") in names or "ALL" in names


def _c_mounts(c: dict, want: list, probe: Probe) -> bool:
    mounts = c.get("Mounts") or []
    fields = {"type": "Type", "name": "Name", "destination": "Destination", "source": "Source"}
    return all(any(all(str(m.get(fields[k], "")) == str(v) for k, v in w.items()) for m in mounts) for w in want)


def _c_tmpfs(c: dict, want: bool, probe: Probe) -> bool:
    has = any(m.get("Type") == "tmpfs" for m in c.get("Mounts") or []) or bool(
        [m for m in c["HostConfig"].get("Mounts") or [] if m.get("Type") == "tmpfs"])
    return has == bool(want)


def _c_restarted(c: dict, want: bool, probe: Probe) -> bool:
    state = c["State"]
    again = state.get("FinishedAt", ZERO_TIME) != ZERO_TIME and state["StartedAt"] > state["FinishedAt"]
    return (again or c.get("RestartCount", 0) > 0) == bool(want)


def _c_diff(c: dict, want: dict, probe: Probe) -> bool:
    changes = probe.diff(c["Id"])
    kinds = {"added": "A", "deleted": "D", "changed": "C"}
    return all((kinds[k], str(path)) in changes for k, path in want.items() if k in kinds)


def _c_exec(c: dict, want: dict, probe: Probe) -> bool:
    if not c["State"]["Running"]:
        return False
    return re.search(str(want.get("output", "")), probe.exec_in(c["Id"], str(want["run"])), re.M) is not None


CONTAINER_FILTERS: dict[str, Callable[[dict, object, Probe], bool]] = {
    "image": _c_image,
    "name": lambda c, want, p: c["Name"].lstrip("/") == want,
    "command": _c_command,
    "running": lambda c, want, p: c["State"]["Running"] == bool(want),
    "exit_code": _c_exit_code,
    "detached": lambda c, want, p: (not c["Config"].get("AttachStdout")) == bool(want),
    "labels": _c_labels,
    "publish_all": lambda c, want, p: bool(c["HostConfig"].get("PublishAllPorts")) == bool(want),
    "ports": _c_ports,
    "memory": lambda c, want, p: c["HostConfig"].get("Memory") == int(want),
    "memory_swap": lambda c, want, p: c["HostConfig"].get("MemorySwap") == int(want),
    "cpus": lambda c, want, p: bool(c["HostConfig"].get("NanoCpus") or c["HostConfig"].get("CpusetCpus")
                                    or (c["HostConfig"].get("CpuQuota") or 0) > 0) == bool(want),
    "cap_add": _c_caps,
    "volumes_from": lambda c, want, p: bool(c["HostConfig"].get("VolumesFrom")) == bool(want),
    "mounts": _c_mounts,
    "tmpfs": _c_tmpfs,
    "restarted": _c_restarted,
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
    "not_tag": lambda i, want, p: any((_split_ref(t)[1] or "latest") != want for t in i.get("RepoTags") or []),
    "cmd": lambda i, want, p: str(want) in " ".join(i["Config"].get("Cmd") or []),
    "entrypoint": lambda i, want, p: (i["Config"].get("Entrypoint") or []) == [str(w) for w in want],
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


def _event(spec: dict, probe: Probe) -> bool:
    for event in probe.events():
        if spec.get("type") and event.get("Type") != spec["type"]:
            continue
        action = event.get("Action", "")
        if spec.get("action") and not (action == spec["action"] or action.startswith(spec["action"] + ":")):
            continue
        if spec.get("name") and (event.get("Actor") or {}).get("Attributes", {}).get("name") != spec["name"]:
            continue
        return True
    return False


def _sandbox(spec: dict, probe: Probe) -> bool:
    from lessons import sandbox_state

    return all(sandbox_state.CHECKS[key](value, probe) for key, value in spec.items())


EVALUATORS: dict[str, Callable[[object, Probe], bool]] = {
    "container": _container,
    "image": _image,
    "volume": lambda spec, p: any(v.get("Name") == spec["name"] for v in p.volumes),
    "network": lambda spec, p: any(n.get("Name") == spec["name"] for n in p.networks),
    "history": _history,
    "event": _event,
    "sandbox": _sandbox,
}


def evaluate_in(condition: Condition, handle: str) -> Outcome:
    """evaluate() against a probe of its own, closed afterwards."""
    with Probe(handle) as probe:
        return evaluate(condition, probe)
