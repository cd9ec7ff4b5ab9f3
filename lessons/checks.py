"""Declarative checks: their vocabulary, parsing, and evaluation.

A check is data (see lessons/README.md). Parsing validates it against the
vocabulary below so a typo fails `lessons validate`, not a learner. Each
condition kind has one small evaluator that reads a probe snapshot of the
learner's sandbox (lessons/probe.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

CONTAINER_KEYS = {
    "image", "name", "command", "running", "ran", "departed", "exit_code", "detached", "labels", "publish_all",
    "ports", "memory", "memory_swap", "swap", "cpus", "cap_add", "volumes_from", "shares_volumes_with", "mounts",
    "tmpfs", "restarted", "diff", "logs", "exec", "count",
}
IMAGE_KEYS = {
    "tag", "tag_matches", "not_tag", "cmd", "runs", "entrypoint", "exec_form", "history", "run_exec_form", "output",
    "smaller_than", "lacks_file", "has_file", "same_id_as", "based_on",
}
COMMAND_KEYS = {"name", "options", "image", "args"}
SANDBOX_KEYS = {"process", "own_proc", "interface", "cgroup", "file"}
SWARM_KEYS = {"state", "manager", "nodes", "node"}
SWARM_NODE_KEYS = {"hostname", "role", "availability", "state"}
SERVICE_KEYS = {"name", "image", "replicas", "running", "spread", "published", "updated", "not_on"}
KINDS = {
    "container": CONTAINER_KEYS, "image": IMAGE_KEYS, "volume": {"name"}, "network": {"name"},
    "history": None, "command": COMMAND_KEYS, "event": {"type", "action", "detail", "name"}, "sandbox": SANDBOX_KEYS,
    "swarm": SWARM_KEYS, "service": SERVICE_KEYS,
}
# `node: {name: node2, check: COND}`: COND holds on that machine of a node set.
COMBINATORS = {"all", "any", "not", "node"}
NODE_NAME = re.compile(r"node([1-9][0-9]?)")
REGEX_KEYS = {"container": ("logs",), "image": ("history", "tag_matches"), "event": ("detail",)}
DIFF_KEYS = {"added", "deleted", "changed", "untouched"}


class CheckSyntaxError(ValueError):
    """A check that does not follow the vocabulary; the text says where."""


@dataclass
class Condition:
    kind: str
    spec: Any
    message: str = ""
    children: list[Condition] = field(default_factory=list)


def parse(data: Any, where: str = "check") -> Condition:
    """Turn the YAML of a check into a Condition tree, or raise CheckSyntaxError."""
    if not isinstance(data, dict):
        raise CheckSyntaxError(f"{where}: a check is a mapping, not {type(data).__name__}")
    message = data.get("message", "")
    if not isinstance(message, str):
        raise CheckSyntaxError(f"{where}: message must be text")
    keys = [k for k in data if k != "message"]
    if len(keys) != 1:
        raise CheckSyntaxError(f"{where}: needs exactly one of {', '.join(sorted(set(KINDS) | COMBINATORS))}, "
                               f"found {', '.join(map(str, keys)) or 'none'}")
    kind = keys[0]
    spec = data[kind]
    if kind in ("all", "any"):
        if not isinstance(spec, list) or not spec:
            raise CheckSyntaxError(f"{where}.{kind}: needs a non-empty list of conditions")
        children = [parse(item, f"{where}.{kind}[{i}]") for i, item in enumerate(spec)]
        return Condition(kind, None, message, children)
    if kind == "not":
        return Condition(kind, None, message, [parse(spec, f"{where}.not")])
    if kind == "node":
        name = spec.get("name") if isinstance(spec, dict) else None
        if not isinstance(spec, dict) or set(spec) != {"name", "check"} or not NODE_NAME.fullmatch(str(name)):
            raise CheckSyntaxError(f"{where}.node: needs name (node1, node2, ...) and check (a condition)")
        return Condition(kind, {"name": name, "number": int(name[4:])}, message, [parse(spec["check"],
                                                                                       f"{where}.node.check")])
    if kind not in KINDS:
        known = ", ".join(sorted(set(KINDS) | COMBINATORS))
        raise CheckSyntaxError(f"{where}: unknown condition {kind!r}; known: {known}")
    allowed = KINDS[kind]
    if allowed is None:
        if not isinstance(spec, str):
            raise CheckSyntaxError(f"{where}.{kind}: needs a regular expression")
        _regex(spec, f"{where}.{kind}")
    else:
        if not isinstance(spec, dict) or not spec:
            raise CheckSyntaxError(f"{where}.{kind}: needs a mapping of properties")
        unknown = set(spec) - allowed
        if unknown:
            raise CheckSyntaxError(f"{where}.{kind}: unknown {', '.join(sorted(map(str, unknown)))}; "
                                   f"known: {', '.join(sorted(allowed))}")
        for key in REGEX_KEYS.get(kind, ()):
            if key in spec:
                _regex(str(spec[key]), f"{where}.{kind}.{key}")
        if kind == "command":
            _command(spec, f"{where}.command")
        if kind == "container" and "diff" in spec:
            diff = spec["diff"]
            if not isinstance(diff, dict) or not diff or set(diff) - DIFF_KEYS:
                raise CheckSyntaxError(f"{where}.container.diff: a mapping of {', '.join(sorted(DIFF_KEYS))}")
        if kind == "swarm" and "node" in spec:
            node = spec["node"]
            if not isinstance(node, dict) or not node or set(node) - SWARM_NODE_KEYS:
                raise CheckSyntaxError(f"{where}.swarm.node: a mapping of {', '.join(sorted(SWARM_NODE_KEYS))}")
        if kind == "container" and "shares_volumes_with" in spec:
            parse({"container": spec["shares_volumes_with"]}, f"{where}.container.shares_volumes_with")
    return Condition(kind, spec, message)


def _command(spec: dict, where: str) -> None:
    names = spec.get("name", [])
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise CheckSyntaxError(f"{where}.name: a subcommand, or a list of them")
    options = spec.get("options", {})
    if not isinstance(options, dict) or not all(str(k).startswith("--") for k in options):
        raise CheckSyntaxError(f"{where}.options: a mapping of long option names (--tail) to regular expressions")
    for option, pattern in options.items():
        if pattern is not None:
            _regex(str(pattern), f"{where}.options.{option}")
    if not isinstance(spec.get("args", 0), int):
        raise CheckSyntaxError(f"{where}.args: a number of arguments")


def _regex(pattern: str, where: str) -> re.Pattern:
    try:
        return re.compile(pattern, re.M)
    except re.error as exc:
        raise CheckSyntaxError(f"{where}: not a valid regular expression ({exc})") from None
