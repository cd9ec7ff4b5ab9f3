"""Read the `docker` commands in a line of shell history as the CLI would.

`command` checks (lessons/README.md) ask what the learner told Docker, not
how they spelled it: `docker container run` is `docker run`, `-n 3` is
`--tail=3`, `-itd` is three options, `sudo docker ...` and
`docker ... | head` are still the same command, and options may come
after the arguments (except for `run`, `create` and `exec`, where
everything after the image or container belongs to the container).

Only the shell syntax a learner types is handled: words, quotes, escapes,
`|`, `&&`, `||`, `;`, `&`, redirections, `$(...)` and backticks (the
commands inside are read too). bash's own parser is not at hand in the
web process, and shlex splits neither operators nor substitutions well
enough for this.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

# Options that take a value, per command, as Docker 20.10's CLI defines them;
# "-x/--long" gives the shorthand too. Options not listed are flags.
_VALUE_OPTIONS = {
    "": "--config -c/--context -H/--host -l/--log-level --tlscacert --tlscert --tlskey",
    "run": "--add-host -a/--attach --blkio-weight --blkio-weight-device --cap-add --cap-drop --cgroup-parent "
           "--cgroupns --cidfile --cpu-count --cpu-percent --cpu-period --cpu-quota --cpu-rt-period "
           "--cpu-rt-runtime -c/--cpu-shares --cpus --cpuset-cpus --cpuset-mems --detach-keys --device "
           "--device-cgroup-rule --device-read-bps --device-read-iops --device-write-bps --device-write-iops "
           "--dns --dns-option --dns-search --domainname --entrypoint -e/--env --env-file --expose --gpus "
           "--group-add --health-cmd --health-interval --health-retries --health-start-period --health-timeout "
           "-h/--hostname --ip --ip6 --ipc --isolation --kernel-memory -l/--label --label-file --link "
           "--link-local-ip --log-driver --log-opt --mac-address -m/--memory --memory-reservation --memory-swap "
           "--memory-swappiness --mount --name --network --network-alias --oom-score-adj --pid --pids-limit "
           "--platform -p/--publish --pull --restart --runtime --security-opt --shm-size --stop-signal "
           "--stop-timeout --storage-opt --sysctl --tmpfs --ulimit -u/--user --userns --uts -v/--volume "
           "--volume-driver --volumes-from -w/--workdir",
    "exec": "--detach-keys -e/--env --env-file -u/--user -w/--workdir",
    "start": "--checkpoint --checkpoint-dir --detach-keys",
    "attach": "--detach-keys",
    "logs": "--since -n/--tail --until",
    "inspect": "-f/--format --type",
    "image inspect": "-f/--format",
    "network inspect": "-f/--format",
    "volume inspect": "-f/--format",
    "ps": "-f/--filter --format -n/--last",
    "images": "-f/--filter --format",
    "build": "--add-host --build-arg --cache-from --cgroup-parent --cpu-period --cpu-quota -c/--cpu-shares "
             "--cpuset-cpus --cpuset-mems -f/--file --iidfile --isolation --label -m/--memory --memory-swap "
             "--network --platform --progress --secret --security-opt --shm-size --ssh -t/--tag --target "
             "--ulimit -o/--output",
    "commit": "-a/--author -c/--change -m/--message",
    "export": "-o/--output",
    "save": "-o/--output",
    "history": "--format",
    "pull": "--platform",
    "stop": "-t/--time",
    "restart": "-t/--time",
    "kill": "-s/--signal",
    "update": "--blkio-weight --cpu-period --cpu-quota --cpu-rt-period --cpu-rt-runtime -c/--cpu-shares --cpus "
              "--cpuset-cpus --cpuset-mems --kernel-memory -m/--memory --memory-reservation --memory-swap "
              "--pids-limit --restart",
    "version": "-f/--format --kubeconfig",
    "info": "-f/--format",
}
_VALUE_OPTIONS["create"] = _VALUE_OPTIONS["run"]
# Shorthands of flags (options without a value).
_FLAG_OPTIONS = {
    "": "-D/--debug -v/--version",
    "run": "-d/--detach -i/--interactive -t/--tty -P/--publish-all -q/--quiet",
    "create": "-i/--interactive -t/--tty -P/--publish-all -q/--quiet",
    "exec": "-d/--detach -i/--interactive -t/--tty",
    "start": "-a/--attach -i/--interactive",
    "logs": "-f/--follow -t/--timestamps",
    "inspect": "-s/--size",
    "network inspect": "-v/--verbose",
    "ps": "-a/--all -l/--latest -q/--quiet -s/--size",
    "images": "-a/--all -q/--quiet",
    "build": "-q/--quiet",
    "commit": "-p/--pause",
    "pull": "-a/--all-tags -q/--quiet",
    "rm": "-f/--force -l/--link -v/--volumes",
    "rmi": "-f/--force",
    "history": "-H/--human -q/--quiet",
}
_ALIASES = {"--net": "--network", "--net-alias": "--network-alias"}
# After the image (run, create) or the container (exec), the words belong to
# the container's command: these commands take no options past it.
_NOT_INTERSPERSED = {"run", "create", "exec"}
# Management commands: `docker container ls` is `docker ps`, and so on.
_CONTAINER = {"ls": "ps", "list": "ps", "remove": "rm"}
_IMAGE = {"ls": "images", "list": "images", "rm": "rmi", "remove": "rmi", "build": "build", "pull": "pull",
          "push": "push", "tag": "tag", "history": "history", "save": "save", "load": "load", "import": "import"}
_MANAGEMENT = {"container", "image", "network", "volume", "system", "builder", "buildx", "context", "plugin",
               "config", "secret", "service", "stack", "swarm", "node", "trust", "manifest"}
# Shell keywords that may stand before a command.
_KEYWORDS = {"if", "then", "elif", "else", "while", "until", "do", "!", "{"}
# Programs that run the command given after their own options.
_WRAPPERS = {
    "sudo": {"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T"},
    "time": set(), "command": set(), "exec": set(), "nohup": set(), "nice": {"-n"},
    "env": {"-u", "-C", "-S"}, "xargs": {"-I", "-n", "-L", "-P", "-d", "-E", "-s", "-a"},
    "timeout": {"-s", "-k"}, "watch": {"-n", "-d"},
}


def _table(spec: str) -> tuple[dict[str, str], set[str]]:
    shorts, longs = {}, set()
    for item in spec.split():
        short, _, long = item.rpartition("/")
        longs.add(long)
        if short:
            shorts[short] = long
    return shorts, longs


_VALUES = {name: _table(spec) for name, spec in _VALUE_OPTIONS.items()}
_FLAGS = {name: _table(spec)[0] for name, spec in _FLAG_OPTIONS.items()}


@dataclass
class DockerCommand:
    """One `docker` invocation: its subcommand (`run`, `logs`, `network inspect`...),
    its options by long name (each with the values given, "" for a flag) and
    its positional arguments."""

    name: str
    options: dict[str, list[str]] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)


# Shell words ------------------------------------------------------------

_CONTROL = ("&&", "||", "|&", ";;", "|", "&", ";", "(", ")", "\n")
_REDIRECT = ("&>>", "&>", ">>", ">&", "<&", "<<<", "<<", "<>", ">|", ">", "<")


def _closing(line: str, start: int, opening: str = "(", closing: str = ")") -> int:
    """Index of the bracket closing the one before start (quotes skipped), or len(line)."""
    depth, i, quote = 1, start, ""
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"':
                i += 1
        elif ch in "'\"":
            quote = ch
        elif ch == "\\":
            i += 1
        elif ch == opening:
            depth += 1
        elif ch == closing:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return len(line)


def simple_commands(line: str) -> list[list[str]]:
    """The simple commands of a shell line, each as its list of words, with
    those inside `$(...)` and backticks after the command that holds them.
    Redirections are left out."""
    commands: list[list[str]] = []
    nested: list[list[str]] = []
    words: list[str] = []
    word: str | None = None  # None: between words
    target = False  # the next word is a redirection's target

    def end_word() -> None:
        nonlocal word, target
        if word is not None:
            if not target:
                words.append(word)
            target = False
        word = None

    def end_command() -> None:
        nonlocal words
        end_word()
        if words:
            commands.append(words)
        words = []

    def substitution(start: int, end: int, skip: int) -> int:
        nonlocal word
        nested.extend(simple_commands(line[start + skip:end]))
        word = (word or "") + line[start:end + 1]
        return end + 1

    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch in " \t":
            end_word()
            i += 1
        elif ch == "'":
            end = line.find("'", i + 1)
            end = n if end < 0 else end
            word = (word or "") + line[i + 1:end]
            i = end + 1
        elif ch == '"':
            word = word or ""
            i += 1
            while i < n and line[i] != '"':
                if line[i] == "\\" and i + 1 < n and line[i + 1] in '"\\$`':
                    word += line[i + 1]
                    i += 2
                elif line.startswith("$(", i):
                    end = _closing(line, i + 2)
                    nested.extend(simple_commands(line[i + 2:end]))
                    word += line[i:end + 1]
                    i = end + 1
                else:
                    word += line[i]
                    i += 1
            i += 1
        elif ch == "\\":
            word = (word or "") + line[i + 1:i + 2]
            i += 2
        elif line.startswith("$(", i):
            i = substitution(i, _closing(line, i + 2), 2)
        elif ch == "`":
            end = line.find("`", i + 1)
            i = substitution(i, n if end < 0 else end, 1)
        elif ch == "#" and word is None:
            break
        elif redirect := next((op for op in _REDIRECT if line.startswith(op, i)), None):
            if word is not None and word.isdigit() and redirect[0] in "<>":
                word = None  # a file descriptor: 2>&1
            end_word()
            target = True
            i += len(redirect)
        elif control := next((op for op in _CONTROL if line.startswith(op, i)), None):
            end_command()
            target = False
            i += len(control)
        else:
            word = (word or "") + ch
            i += 1
    end_command()
    return commands + nested


# Docker's command line ----------------------------------------------------

def _unwrap(words: list[str]) -> list[str]:
    """Drop keywords, variable assignments and wrappers (sudo, time, env, xargs...) in front of a command."""
    i = 0
    while i < len(words):
        word = words[i]
        if word in _KEYWORDS:
            i += 1
        elif "=" in word and not word.startswith("-") and word.split("=", 1)[0].isidentifier():
            i += 1
        elif word in _WRAPPERS:
            takes_value = _WRAPPERS[word]
            i += 1
            while i < len(words) and words[i].startswith("-") and words[i] != "--":
                i += 2 if words[i] in takes_value else 1
            if i < len(words) and words[i] == "--":
                i += 1
            if word == "timeout" and i < len(words):
                i += 1  # the duration
        else:
            break
    return words[i:]


def _name(words: list[str]) -> tuple[str, int]:
    """The canonical subcommand starting at words[0], and how many words it took."""
    if not words:
        return "", 0
    first = words[0]
    if first in _MANAGEMENT and len(words) > 1 and not words[1].startswith("-"):
        second = words[1]
        if first == "container":
            return _CONTAINER.get(second, second), 2
        if first == "image" and second in _IMAGE:
            return _IMAGE[second], 2
        if first in ("builder", "buildx") and second == "build":
            return "build", 2
        if first == "system" and second == "info":
            return "info", 2
        return f"{first} {second}", 2
    return first, 1


def _options(words: list[str], command: str, result: DockerCommand, stop_at_argument: bool) -> list[str]:
    """Read options from words into result; return the words left after
    them (every word, when stop_at_argument is false and none is left)."""
    value_shorts, value_longs = _VALUES.get(command, ({}, set()))
    flag_shorts = _FLAGS.get(command, {})
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            result.args.extend(words[i + 1:])
            return []
        if word.startswith("--") and len(word) > 2:
            name, eq, value = word.partition("=")
            name = _ALIASES.get(name, name)
            if not eq and name in value_longs and i + 1 < len(words):
                value, i = words[i + 1], i + 1
            result.options.setdefault(name, []).append(value)
        elif word.startswith("-") and len(word) > 1:
            letters = word[1:]
            while letters:
                letter, letters = "-" + letters[0], letters[1:]
                if letter in value_shorts:
                    value = letters[1:] if letters.startswith("=") else letters
                    if not value and i + 1 < len(words):
                        value, i = words[i + 1], i + 1
                    result.options.setdefault(value_shorts[letter], []).append(value)
                    break
                result.options.setdefault(flag_shorts.get(letter, letter), []).append("")
        elif stop_at_argument:
            return words[i:]
        else:
            result.args.append(word)
        i += 1
    return []


def _docker(words: list[str]) -> DockerCommand | None:
    words = _unwrap(words)
    if not words or words[0].rsplit("/", 1)[-1] != "docker":
        return None
    top = DockerCommand("")
    rest = _options(words[1:], "", top, stop_at_argument=True)
    name, used = _name(rest)
    result = DockerCommand(name, dict(top.options))
    rest = _options(rest[used:], name, result, stop_at_argument=name in _NOT_INTERSPERSED)
    result.args.extend(rest)
    return result


@lru_cache(maxsize=4096)
def docker_commands(line: str) -> tuple[DockerCommand, ...]:
    """Every `docker` command in a line of shell history."""
    found = (_docker(words) for words in simple_commands(line))
    return tuple(command for command in found if command is not None)
