"""Every exercise of the course against the answers learners give: other
reasonable ways of doing it must turn it green, near misses must not.

Each case runs in a real sandbox the way a learner meets the exercise: its
`before` script (state from the learner's earlier work, made without typing),
the exercise's setup, then the answer typed into a login shell (so that it
lands in the shell history), and the course's own check evaluated while
that shell is still open. A passing answer must also leave the exercise red
before it is typed, so that it proves something.

Sandboxes: cases share one per chapter (images are built once per sandbox and
later builds reuse the cached layers), except for the exercises whose checks
also count removed containers or engine events (ISOLATED), which a setup
cannot reset: their near misses share a sandbox of their own, and each
passing answer gets a fresh one.

NEEDS_DEPARTED lists the answers that remove their container (`--rm`): they
pass only once the probe remembers containers it saw running (lessons/probe.py
being rebuilt to follow the engine's events). Until then they fail, and say so.
"""
from __future__ import annotations

import asyncio
import re
import secrets
import textwrap
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from lessons import catalog
from lessons.checker import evaluate
from lessons.probe import Probe
from lessons.scripts import Shell, run_setup
from sandboxes.backends import SandboxError, get_backend
from tests.support import Watching, run_async

PASS_WAIT = 3.0  # seconds a passing answer may take to turn the exercise green
SCRIPT_TIMEOUT = 240.0


@dataclass(frozen=True)
class Keys:
    """Keystrokes sent as they are (no Enter added, nothing waited for), then
    a pause: for programs that are not a shell, such as a clock to detach from."""

    text: str
    pause: float = 1.5


@dataclass(frozen=True)
class Inside:
    """A command typed into a shell inside a container (docker run -it, docker
    exec -it) once it prompts, as a learner would, and done when it prompts
    again: typed ahead, the next line could be read by the command (apt-get)."""

    text: str
    timeout: float = 120.0


# A root prompt, with the terminal queries some shells send after it (busybox sh asks where the cursor is).
PROMPT = re.compile(rb"# (\x1b\[[0-9;?]*[A-Za-z])*\Z")


@dataclass(frozen=True)
class Case:
    exercise: str
    passes: bool
    name: str
    steps: tuple = ()
    before: str = ""  # run first, without typing: what the learner has from earlier work
    after: tuple = ()  # typed once the check has been read, e.g. to leave a shell
    settle: float = 0.0  # a near miss is read this long after the answer (engine events, removed containers)

    @property
    def id(self) -> str:
        return f"{self.exercise}-{'pass' if self.passes else 'fail'}-{self.name}"


def ok(exercise: str, name: str, *steps, **options) -> Case:
    return Case(exercise, True, name, steps, **options)


def no(exercise: str, name: str, *steps, **options) -> Case:
    return Case(exercise, False, name, steps, **options)


def write(path: str, text: str) -> str:
    """A shell step that writes a file (a learner would use an editor)."""
    return f"cat > {path} <<'EOF'\n{textwrap.dedent(text).strip()}\nEOF"


def figlet_dockerfile(*extra: str, run: str = 'RUN ["apt-get", "install", "-y", "figlet"]') -> str:
    lines = ["FROM ubuntu:24.04", "RUN apt-get update", run, *extra]
    return write("~/figlet/Dockerfile", "\n".join(lines))


# Leaving a container's shell: the docker client would forward to the
# container whatever is typed before it has quit, so wait for it.
LEAVE = Keys("exit\r", 2.0)
BUILD_FIGLET = "docker build -t figlet ~/figlet"
HELLO_BASE = "FROM ubuntu:24.04\nRUN apt-get update && apt-get install -y build-essential\n"
CLOCKS = "$(docker ps -q --filter ancestor=jpetazzo/clock)"
NO_CLOCKS = "docker ps -q --filter ancestor=jpetazzo/clock | xargs -r docker rm -f >/dev/null"
WEB_PORT = "$(docker port web 80/tcp | head -n 1 | sed 's/.*://')"
# cgroup v1 or v2: the same answer either way.
CGROUP = ("if [ -f /sys/fs/cgroup/cgroup.controllers ]; then CG=/sys/fs/cgroup LIMIT=memory.max; "
          "grep -qw memory $CG/cgroup.subtree_control || echo +memory > $CG/cgroup.subtree_control; "
          "else CG=/sys/fs/cgroup/memory LIMIT=memory.limit_in_bytes; fi")
REDIS_OLD = ("docker run -d --name redis-old redis:6; sleep 1; docker exec redis-old redis-cli SET counter 41; "
             "docker exec redis-old redis-cli INCR counter")
ONE_HUNDRED_MEGS = "$CG/onehundredmegs/$LIMIT"
# The learner's hello is the single-stage one of the exercise before (its setup builds it when missing).
SINGLE_STAGE_HELLO = "docker rmi -f hello >/dev/null 2>&1; true"

CASES = [
    # Chapter 1 -------------------------------------------------------------
    ok("docker-version", "version", "docker version"),
    ok("docker-version", "global-option", "docker --host unix:///var/run/docker.sock version | head -n 20"),
    ok("docker-version", "format", "docker version --format '{{.Client.Version}} / {{.Server.Version}}'"),
    no("docker-version", "flag", "docker --version"),
    no("docker-version", "info", "docker info | head -n 5"),
    no("docker-version", "echoed", "echo docker version"),

    ok("hello-world", "plain", "docker run busybox echo hello world"),
    ok("hello-world", "container-run-sh", "docker container run busybox sh -c 'echo \"hello world\"'"),
    ok("hello-world", "tty", "docker run -t busybox echo hello world"),
    ok("hello-world", "rm", "docker run --rm busybox echo hello world"),
    no("hello-world", "other-words", "docker run busybox echo hello"),
    no("hello-world", "exit-1", "docker run busybox sh -c 'echo hello world; exit 1'"),
    no("hello-world", "ubuntu", "docker run ubuntu echo hello world"),
    no("hello-world", "created", "docker create busybox echo hello world"),

    ok("figlet-inside", "sh-c", "docker run ubuntu sh -c 'apt-get update && apt-get install -y figlet'"),
    ok("figlet-inside", "interactive", "docker run -it ubuntu", Inside("apt-get update"),
       Inside("apt-get install -y figlet"), LEAVE, "docker ps -l"),
    ok("figlet-inside", "exec", "docker run -d ubuntu sleep 600",
       "docker exec $(docker ps -lq) sh -c 'apt-get update && apt-get install -y figlet'"),
    no("figlet-inside", "rm", "docker run --rm ubuntu sh -c 'apt-get update && apt-get install -y figlet'",
       settle=1.1),
    no("figlet-inside", "no-update", "docker run ubuntu apt-get install -y figlet"),
    no("figlet-inside", "update-only", "docker run ubuntu apt-get update"),

    *[Case("fresh-container", case.passes, case.name, case.steps, settle=case.settle, after=case.after, before=(
        "for c in $(docker ps -aq --filter ancestor=ubuntu); do docker diff $c | grep -q ' /usr/bin/figlet$' "
        "&& exit 0; done; docker run ubuntu sh -c 'apt-get update && apt-get install -y figlet' >/dev/null"))
      for case in [
          ok("", "which", "docker run ubuntu sh -c 'command -v figlet || echo no figlet here'"),
          ok("", "interactive", "docker run -it ubuntu", Inside("figlet hello"), LEAVE, "docker ps -l"),
          ok("", "detached-exec", "docker run -d ubuntu sleep 600", "docker exec $(docker ps -lq) figlet hi"),
          no("", "rm", "docker run --rm ubuntu figlet hi", settle=1.1),
          no("", "figlet-again", "docker run ubuntu sh -c 'apt-get update && apt-get install -y figlet'"),
          no("", "busybox", "docker run busybox sh -c 'command -v figlet'"),
      ]],

    ok("clock-detached", "detach-long", "docker container run --detach --name=bg-clock jpetazzo/clock",
       before="docker rm -f bg-clock >/dev/null 2>&1; true"),
    ok("clock-detached", "dit", "docker run -dit jpetazzo/clock"),
    ok("clock-detached", "tagged", "docker run -d jpetazzo/clock:latest"),
    no("clock-detached", "ctrl-c", Keys("docker run jpetazzo/clock\r", 2.5), Keys("\x03"), "docker ps"),
    no("clock-detached", "busybox", "docker run -d busybox sleep 600"),
    no("clock-detached", "created", "docker create jpetazzo/clock"),

    ok("three-clocks", "three-runs", "docker run -d jpetazzo/clock\ndocker run -d jpetazzo/clock\n"
       "docker run -d jpetazzo/clock", before=NO_CLOCKS),
    ok("three-clocks", "loop", "for i in 1 2 3; do docker container run --detach jpetazzo/clock; done",
       before=NO_CLOCKS),
    ok("three-clocks", "start-stopped",
       "docker start $(docker ps -aq --filter ancestor=jpetazzo/clock --filter status=exited | head -n 3)",
       before=f"{NO_CLOCKS}; for i in 1 2 3; do docker run -d jpetazzo/clock; done >/dev/null; "
              f"docker stop -t 0 {CLOCKS} >/dev/null"),
    no("three-clocks", "two-and-created", "docker run -d jpetazzo/clock; docker run -d jpetazzo/clock; "
       "docker create jpetazzo/clock", before=NO_CLOCKS),
    no("three-clocks", "busybox", "for i in 1 2 3; do docker run -d busybox sleep 600; done", before=NO_CLOCKS),

    ok("logs-tail", "tail", "docker logs --tail 3 $(docker ps -lq)"),
    ok("logs-tail", "n-after-name", "docker container logs $(docker ps -q --filter ancestor=jpetazzo/clock | "
       "head -n 1) -n 2"),
    ok("logs-tail", "follow-equals", "timeout 3 docker logs -f --tail=1 $(docker ps -lq)"),
    no("logs-tail", "whole", "docker logs $(docker ps -lq)"),
    no("logs-tail", "shell-tail", "docker logs $(docker ps -lq) | tail -n 3"),
    no("logs-tail", "ps-n", "docker ps -n 3"),

    ok("stop-and-kill", "stop-all", f"docker stop -t 1 {CLOCKS}"),
    ok("stop-and-kill", "xargs-kill", "docker ps -q --filter ancestor=jpetazzo/clock | xargs docker kill"),
    ok("stop-and-kill", "kill-then-stop", "docker kill $(docker ps -q --filter ancestor=jpetazzo/clock | "
       "head -n 1)", f"docker container stop -t 1 {CLOCKS}"),
    ok("stop-and-kill", "rm", f"docker stop -t 1 {CLOCKS}",
       before="for i in 1 2 3; do docker run -d --rm jpetazzo/clock; done >/dev/null"),
    no("stop-and-kill", "one-left", "docker stop -t 1 $(docker ps -q --filter ancestor=jpetazzo/clock | head -n 2)"),
    no("stop-and-kill", "one-started-again", f"docker stop -t 1 {CLOCKS}",
       "docker start $(docker ps -aq --filter ancestor=jpetazzo/clock | head -n 1)"),
    no("stop-and-kill", "busybox", "docker stop -t 1 $(docker ps -q --filter ancestor=busybox)",
       before="docker run -d busybox sleep 600 >/dev/null"),

    ok("detach-keys", "interactive", Keys("docker run -it --detach-keys ctrl-x,x jpetazzo/clock\r", 3),
       Keys("\x18", 0.3), Keys("x"), "docker ps -l"),
    ok("detach-keys", "attach-equals", Keys("docker attach --detach-keys=ctrl-y,y $(docker ps -lq)\r", 2.5),
       Keys("\x19", 0.3), Keys("y"), "docker ps -l", before="docker run -dit jpetazzo/clock >/dev/null"),
    ok("detach-keys", "config-file", "mkdir -p ~/.docker && echo '{\"detachKeys\": \"ctrl-x,x\"}' > "
       "~/.docker/config.json", Keys("docker run -it jpetazzo/clock\r", 3), Keys("\x18", 0.3), Keys("x"),
       "docker ps -l"),
    no("detach-keys", "default-keys", "docker run -d --detach-keys ctrl-p,ctrl-q jpetazzo/clock"),
    no("detach-keys", "plain-it", Keys("docker run -it jpetazzo/clock\r", 3), Keys("\x10", 0.3), Keys("\x11"),
       "docker ps -l"),

    *[Case("restart-container", case.passes, case.name, case.steps,
           before="docker rm -f $(docker ps -aq) >/dev/null 2>&1; " + case.before) for case in [
        ok("", "start", "docker start sleeper", before="docker run -d --name sleeper jpetazzo/clock >/dev/null; "
           "docker stop -t 0 sleeper >/dev/null"),
        ok("", "id-prefix", "docker container start $(docker ps -aq --filter name=sleeper | cut -c1-5)",
           before="docker run -d --name sleeper jpetazzo/clock >/dev/null; docker stop -t 0 sleeper >/dev/null"),
        ok("", "restart", "docker restart sleeper", before="docker run -d --name sleeper jpetazzo/clock "
           ">/dev/null; docker stop -t 0 sleeper >/dev/null"),
        no("", "new", "docker run -d jpetazzo/clock"),
        no("", "unpause", "docker unpause sleeper", before="docker run -d --name sleeper jpetazzo/clock "
           ">/dev/null; docker pause sleeper"),
        no("", "exits-again", "docker start oneshot", before="docker run --name oneshot busybox true"),
    ]],

    # Chapters 2 and 3 ------------------------------------------------------
    ok("pull-tag", "alpine", "docker pull alpine:3.20"),
    ok("pull-tag", "image-pull", "docker image pull ubuntu:24.04"),
    ok("pull-tag", "run-pulls", "docker run --rm alpine:3.20 true"),
    ok("pull-tag", "qualified", "docker pull docker.io/library/alpine:3.20"),
    no("pull-tag", "implicit-latest", "docker pull alpine"),
    no("pull-tag", "explicit-latest", "docker pull ubuntu:latest"),

    ok("build-figlet", "one-run", write("~/figlet/Dockerfile", "FROM ubuntu:24.04\n"
       "RUN apt-get update && apt-get install -y figlet"), "docker image build --tag figlet:latest ~/figlet"),
    ok("build-figlet", "file-option", write("~/figlet/Dockerfile.figlet", "FROM ubuntu\nRUN apt-get update\n"
       "RUN apt-get install -y figlet"), "docker build -t figlet -f ~/figlet/Dockerfile.figlet ~/figlet"),
    ok("build-figlet", "buildkit", figlet_dockerfile(run="RUN apt-get install -y figlet"),
       "DOCKER_BUILDKIT=1 docker build -t figlet ~/figlet"),
    no("build-figlet", "no-install", write("~/figlet/Dockerfile", "FROM ubuntu:24.04\nRUN apt-get update"),
       BUILD_FIGLET),
    no("build-figlet", "other-tag", figlet_dockerfile(run="RUN apt-get install -y figlet"),
       "docker build -t figlets ~/figlet"),
    no("build-figlet", "busybox-base", write("~/figlet/Dockerfile", "FROM busybox\n"
       "RUN echo 'no apt-get here: install figlet some other day'"), BUILD_FIGLET),

    ok("exec-form-run", "install", figlet_dockerfile(), BUILD_FIGLET),
    ok("exec-form-run", "update", write("~/figlet/Dockerfile", 'FROM ubuntu:24.04\nRUN ["apt-get", "update"]\n'
       "RUN apt-get install -y figlet"), BUILD_FIGLET),
    ok("exec-form-run", "buildkit", figlet_dockerfile(), f"DOCKER_BUILDKIT=1 {BUILD_FIGLET}"),
    no("exec-form-run", "shell-only", BUILD_FIGLET),
    no("exec-form-run", "cmd-only", figlet_dockerfile('CMD ["figlet", "hi"]', run="RUN apt-get install -y figlet"),
       BUILD_FIGLET),
    # JSON, but through a shell again: what exec form is there to avoid.
    no("exec-form-run", "sh-c", figlet_dockerfile(run='RUN ["/bin/sh", "-c", "apt-get install -y figlet"]'),
       BUILD_FIGLET),

    ok("figlet-cmd", "shell-form", figlet_dockerfile("CMD figlet hi"), BUILD_FIGLET),
    ok("figlet-cmd", "exec-form", figlet_dockerfile('CMD ["figlet", "-f", "slant", "hello"]'), BUILD_FIGLET),
    ok("figlet-cmd", "entrypoint", figlet_dockerfile('ENTRYPOINT ["figlet"]', 'CMD ["hello"]'), BUILD_FIGLET),
    no("figlet-cmd", "echo", figlet_dockerfile('CMD ["echo", "hello"]'), BUILD_FIGLET),
    no("figlet-cmd", "other-tag", figlet_dockerfile("CMD figlet hi"), "docker build -t figlet2 ~/figlet"),

    ok("figlet-entrypoint", "appended", "echo 'ENTRYPOINT [\"figlet\", \"-f\", \"script\"]' >> ~/figlet/Dockerfile",
       BUILD_FIGLET),
    ok("figlet-entrypoint", "full-path", figlet_dockerfile('ENTRYPOINT ["/usr/bin/figlet", "-f", "script"]'),
       BUILD_FIGLET),
    ok("figlet-entrypoint", "with-cmd", figlet_dockerfile('ENTRYPOINT ["figlet", "-f", "script"]',
                                                          'CMD ["bonjour"]'), BUILD_FIGLET),
    no("figlet-entrypoint", "shell-form", figlet_dockerfile("ENTRYPOINT figlet -f script"), BUILD_FIGLET),
    no("figlet-entrypoint", "split", figlet_dockerfile('ENTRYPOINT ["figlet"]', 'CMD ["-f", "script"]'),
       BUILD_FIGLET),
    no("figlet-entrypoint", "cmd-only", figlet_dockerfile('CMD ["figlet", "-f", "script"]'), BUILD_FIGLET),

    ok("entrypoint-plus-cmd", "one-word", figlet_dockerfile('ENTRYPOINT ["figlet", "-f", "script"]',
                                                            'CMD ["bonjour"]'), BUILD_FIGLET),
    ok("entrypoint-plus-cmd", "two-words", figlet_dockerfile('ENTRYPOINT ["figlet", "-f", "script"]',
                                                             'CMD ["hello", "world"]'), BUILD_FIGLET),
    ok("entrypoint-plus-cmd", "full-path", figlet_dockerfile('ENTRYPOINT ["/usr/bin/figlet", "-f", "script"]',
                                                             'CMD ["hi"]'), BUILD_FIGLET),
    no("entrypoint-plus-cmd", "shell-cmd", figlet_dockerfile('ENTRYPOINT ["figlet", "-f", "script"]',
                                                             "CMD hello world"), BUILD_FIGLET),
    no("entrypoint-plus-cmd", "no-cmd", BUILD_FIGLET),
    no("entrypoint-plus-cmd", "shell-entrypoint", figlet_dockerfile("ENTRYPOINT figlet -f script", 'CMD ["hi"]'),
       BUILD_FIGLET),

    ok("override-entrypoint", "cat", "docker container run --entrypoint=cat figlet /etc/os-release"),
    ok("override-entrypoint", "interactive", "docker run -it --entrypoint bash figlet", Inside("ls /"), LEAVE, "true"),
    ok("override-entrypoint", "tagged-path", "docker run --rm --entrypoint /bin/sh figlet:latest -c 'echo inside'"),
    no("override-entrypoint", "argument", "docker run --rm figlet bash"),
    no("override-entrypoint", "other-image", "docker run --rm --entrypoint sh busybox -c true"),
    no("override-entrypoint", "create-only", "docker create --entrypoint ls figlet"),

    ok("build-hello", "add-entrypoint", write("~/hello/Dockerfile", HELLO_BASE + "ADD hello.c /src/hello.c\n"
       "RUN gcc -o /usr/local/bin/hello /src/hello.c\nENTRYPOINT [\"/usr/local/bin/hello\"]"),
       "docker build -t hello ~/hello"),
    ok("build-hello", "copy-dir-make", write("~/hello/Dockerfile", HELLO_BASE + "COPY . /src\nWORKDIR /src\n"
       "RUN make hello\nCMD [\"./hello\"]"), "docker build -t hello ~/hello"),
    ok("build-hello", "shell-cmd", write("~/hello/Dockerfile", HELLO_BASE + "COPY hello.c /hello.c\n"
       "RUN gcc -o /hello /hello.c\nCMD /hello"), "docker image build -t hello:latest ~/hello"),
    no("build-hello", "no-cmd", write("~/hello/Dockerfile", HELLO_BASE + "COPY hello.c /hello.c\n"
       "RUN gcc -o /hello /hello.c"), "docker build -t hello ~/hello"),
    no("build-hello", "no-copy", write("~/hello/Dockerfile", HELLO_BASE + "RUN printf '#include <stdio.h>\\n"
       "int main(void) { puts(\"Hello, world!\"); return 0; }\\n' > /hello.c && gcc -o /hello /hello.c\n"
       "CMD [\"/hello\"]"), "docker build -t hello ~/hello"),
    no("build-hello", "echo-not-compiled", write("~/hello/Dockerfile", "FROM ubuntu:24.04\nCOPY hello.c /hello.c\n"
       "CMD [\"echo\", \"Hello, world!\"]"), "docker build -t hello ~/hello"),

    *[Case("multistage-hello", case.passes, case.name, (write("~/hellomultistage/Dockerfile", case.steps[0]),
                                                        "docker build -t hellomultistage ~/hellomultistage"),
           before=SINGLE_STAGE_HELLO) for case in [
        ok("", "entrypoint", "FROM ubuntu:24.04 AS build\nRUN apt-get update && apt-get install -y build-essential\n"
           "COPY hello.c /hello.c\nRUN gcc -o /hello /hello.c\nFROM ubuntu:24.04\nCOPY --from=build /hello /hello\n"
           "ENTRYPOINT [\"/hello\"]"),
        ok("", "stage-index", HELLO_BASE + "COPY hello.c /hello.c\nRUN gcc -o /hello /hello.c\nFROM ubuntu:24.04\n"
           "COPY --from=0 /hello /usr/local/bin/hello\nCMD [\"hello\"]"),
        ok("", "static-busybox", HELLO_BASE + "COPY hello.c /hello.c\nRUN gcc -static -o /hello /hello.c\n"
           "FROM busybox\nCOPY --from=0 /hello /hello\nCMD [\"/hello\"]"),
        no("", "single-stage", HELLO_BASE + "COPY hello.c /hello.c\nRUN gcc -o /hello /hello.c\nCMD [\"/hello\"]"),
        no("", "from-first-stage", "FROM ubuntu:24.04 AS compiler\n"
           "RUN apt-get update && apt-get install -y build-essential\nCOPY hello.c /hello.c\n"
           "RUN gcc -o /hello /hello.c\nFROM compiler\nCMD [\"/hello\"]"),
        no("", "nothing-copied", HELLO_BASE + "COPY hello.c /hello.c\nRUN gcc -o /hello /hello.c\nFROM ubuntu:24.04\n"
           "CMD [\"/hello\"]"),
    ]],

    ok("tag-for-registry", "image-tag-version", "docker image tag figlet:latest learner/figlet:1.0"),
    ok("tag-for-registry", "id-registry", "docker tag $(docker images -q figlet | head -n 1) localhost:5000/figlet"),
    # The same Dockerfile again: every step comes from the cache, so the same image.
    ok("tag-for-registry", "same-build", "docker build -t learner/figlet ~/figlet",
       before="docker rmi -f figlet >/dev/null 2>&1; true"),
    no("tag-for-registry", "no-slash", "docker tag figlet figlet2"),
    no("tag-for-registry", "other-image", "docker tag busybox learner/figlet"),
    no("tag-for-registry", "other-name", "docker tag figlet learner/figlets"),

    # Chapter 4 -------------------------------------------------------------
    ok("name-container", "name-equals", "docker container run --detach --name=ticktock jpetazzo/clock"),
    ok("name-container", "renamed-later", "docker run -d jpetazzo/clock", "docker rename $(docker ps -lq) ticktock"),
    ok("name-container", "tagged", "docker run -d --name ticktock jpetazzo/clock:latest"),
    no("name-container", "other-name", "docker run -d --name tick-tock jpetazzo/clock"),
    no("name-container", "other-image", "docker run -d --name ticktock busybox sleep 600"),
    no("name-container", "rm-stopped", "docker run -d --rm --name ticktock jpetazzo/clock",
       "docker stop -t 1 ticktock", settle=1.1),

    ok("rename-container", "rename", "docker rename ticktock oldclock",
       "docker run -d --name ticktock jpetazzo/clock"),
    ok("rename-container", "id-prefix", "docker container rename $(docker ps -q --filter name=ticktock | "
       "cut -c1-6) tock"),
    no("rename-container", "new-name", "docker run -d --name oldclock jpetazzo/clock", settle=1.1),
    no("rename-container", "recreate", "docker rm -f ticktock && docker run -d --name oldclock jpetazzo/clock",
       settle=1.1),

    ok("inspect-format", "format", "docker inspect --format '{{.State.StartedAt}}' ticktock"),
    ok("inspect-format", "short-equals", "docker container inspect -f='{{.State.Status}}' ticktock"),
    ok("inspect-format", "json-latest", "docker inspect --format '{{json .Config.Labels}}' $(docker ps -lq)"),
    no("inspect-format", "plain", "docker inspect ticktock | head -n 5"),
    no("inspect-format", "ps-format", "docker ps --format '{{.Names}}'"),
    no("inspect-format", "image", "docker image inspect --format '{{.Id}}' busybox"),

    ok("owner-labels", "short-and-bare", "docker run -d -l owner=alice jpetazzo/clock",
       "docker run -d -l owner=bob jpetazzo/clock", "docker run -d -l owner jpetazzo/clock"),
    ok("owner-labels", "long-equals", "docker run -d --label owner=alice busybox sleep 600",
       "docker container run -d --label=owner=bob busybox sleep 600",
       "docker run -d --label owner= busybox sleep 600"),
    ok("owner-labels", "label-file", "printf 'owner=alice\\n' > /tmp/alice.labels",
       "docker run -d --label-file /tmp/alice.labels jpetazzo/clock",
       "docker run -d -l owner=bob jpetazzo/clock", "docker run -d -l owner jpetazzo/clock"),
    no("owner-labels", "two-only", "docker run -d -l owner=alice jpetazzo/clock",
       "docker run -d -l owner=bob jpetazzo/clock"),
    no("owner-labels", "env-not-label", "docker run -d -l owner=alice jpetazzo/clock",
       "docker run -d -l owner=bob jpetazzo/clock", "docker run -d -e owner= jpetazzo/clock"),
    no("owner-labels", "capital", "docker run -d -l owner=alice jpetazzo/clock",
       "docker run -d -l owner=bob jpetazzo/clock", "docker run -d -l Owner jpetazzo/clock"),

    ok("filter-by-label", "filter", "docker ps --filter label=owner"),
    ok("filter-by-label", "short-quoted", "docker container ls -f 'label=owner=alice'"),
    ok("filter-by-label", "all-equals", "docker ps -a --filter=label=owner=bob"),
    no("filter-by-label", "name", "docker ps --filter name=alice"),
    no("filter-by-label", "grep", "docker ps --format '{{.ID}} {{.Labels}}' | grep owner=alice"),
    no("filter-by-label", "images", "docker images --filter label=owner"),

    ok("exec-shell", "sh-c", "docker run -d --name shellme busybox sleep 600", "docker exec shellme sh -c 'echo hi'"),
    ok("exec-shell", "interactive", "docker run -d --name shellme busybox sleep 600", "docker exec -it shellme sh",
       Inside("echo inside"), LEAVE, "true"),
    ok("exec-shell", "container-exec-path", "docker run -d busybox sleep 600",
       "docker container exec $(docker ps -lq) /bin/sh -c 'ls /'"),
    no("exec-shell", "not-a-shell", "docker run -d --name shellme busybox sleep 600", "docker exec shellme ls /",
       settle=1.1),
    no("exec-shell", "new-container", "docker run --rm busybox sh -c 'echo hi'", settle=1.1),

    ok("debug-crashed", "cat-log", "docker run --name crashed jpetazzo/crashtest", "docker commit crashed debugimage",
       "docker run --rm --entrypoint cat debugimage /var/log/crashtest.log"),
    ok("debug-crashed", "interactive", "docker run --name crashed jpetazzo/crashtest",
       "docker container commit $(docker ps -alq) debugimage:v1", "docker run -it --entrypoint=sh debugimage:v1",
       Inside("ls /var/log"), LEAVE, "true"),
    ok("debug-crashed", "message", "docker run --name crashed jpetazzo/crashtest",
       "docker commit -m 'for debugging' crashed debugimage", "docker run --entrypoint ls debugimage /var/log"),
    no("debug-crashed", "tagged", "docker tag jpetazzo/crashtest debugimage",
       "docker run --rm --entrypoint cat debugimage /var/log/crashtest.log"),
    no("debug-crashed", "no-entrypoint", "docker run --name crashed jpetazzo/crashtest",
       "docker commit crashed debugimage", "docker run debugimage"),
    no("debug-crashed", "original-image", "docker run --name crashed jpetazzo/crashtest",
       "docker commit crashed debugimage", "docker run --rm --entrypoint cat jpetazzo/crashtest /etc/hostname"),

    ok("export-filesystem", "pipe", "docker export $(docker ps -lq) | tar -tf - | head -n 5"),
    ok("export-filesystem", "output", "docker container export -o /tmp/fs.tar $(docker ps -aq | head -n 1)"),
    ok("export-filesystem", "redirect", "docker export $(docker ps -aq | head -n 1) > /tmp/fs.tar"),
    no("export-filesystem", "save", "docker save busybox | tar -t | head -n 3"),
    no("export-filesystem", "nothing", "docker export"),
    no("export-filesystem", "image-save", "docker image save -o /tmp/busybox.tar busybox"),

    # Chapter 5 -------------------------------------------------------------
    ok("publish-all", "long", "docker run --detach --publish-all nginx"),
    ok("publish-all", "combined-tag", "docker container run -dP --name web nginx:latest"),
    ok("publish-all", "and-p", "docker run -d -P -p 8081:80 nginx"),
    no("publish-all", "p-only", "docker run -d -p 8000:80 nginx"),
    no("publish-all", "created", "docker create -P nginx"),
    no("publish-all", "busybox", "docker run -d -P busybox sleep 600"),

    ok("curl-nginx", "index-html", "docker run -d --name web -P nginx", "sleep 1",
       f"curl -s http://127.0.0.1:{WEB_PORT}/index.html"),
    ok("curl-nginx", "container-ip", "docker run -d --name web nginx", "sleep 1",
       "curl -s $(docker inspect -f '{{.NetworkSettings.IPAddress}}' web)"),
    ok("curl-nginx", "wget-head", "docker run -d --name web -p 8000:80 nginx", "sleep 1",
       "busybox wget -q -O /dev/null http://localhost:8000/ && curl -sI localhost:8000"),
    ok("curl-nginx", "rm", "docker run -d --rm --name web -P nginx", "sleep 1", f"curl -s localhost:{WEB_PORT}",
       "docker stop -t 1 web"),
    no("curl-nginx", "not-found", "docker run -d --name web -P nginx", "sleep 1",
       f"curl -s localhost:{WEB_PORT}/nothing-here"),
    no("curl-nginx", "no-request", "docker run -d --name web -P nginx", "docker port web"),
    no("curl-nginx", "wrong-port", "docker run -d --name web -P nginx", "sleep 1", "curl -s localhost:1 || true"),

    ok("manual-ports", "long-options", "docker run -d --publish=8000:80/tcp nginx",
       "docker container run -d --publish 0.0.0.0:8080:80 --publish 8888:80 nginx"),
    ok("manual-ports", "loopback", "docker run -d -p 127.0.0.1:8000:80 nginx",
       "docker run -d -p 127.0.0.1:8080:80 -p 127.0.0.1:8888:80 nginx", "curl -s localhost:8888 >/dev/null"),
    ok("manual-ports", "one-container", "docker run -d -p 8000:80 -p 8080:80 -p 8888:80 nginx"),
    no("manual-ports", "split", "docker run -d -p 8000:80 nginx", "docker run -d -p 8080:80 nginx",
       "docker run -d -p 8888:80 nginx"),
    no("manual-ports", "reversed", "docker run -d -p 80:8000 nginx", "docker run -d -p 81:8080 -p 82:8888 nginx"),
    no("manual-ports", "only-one", "docker run -d -p 8000:80 nginx"),

    ok("container-ip", "networks-range", "docker container inspect -f "
       "'{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' $(docker ps -q | head -n 1)"),
    ok("container-ip", "grep", "docker inspect $(docker ps -lq) | grep IPAddress"),
    ok("container-ip", "network-inspect", "docker network inspect bridge"),
    no("container-ip", "other-format", "docker inspect --format '{{.Name}}' $(docker ps -lq)"),
    no("container-ip", "ps", "docker ps"),
    no("container-ip", "image-inspect", "docker image inspect nginx | grep -i ip"),

    ok("volumes-from", "read-only", "docker run -d --volumes-from=webapp:ro alpine sleep 600"),
    ok("volumes-from", "id-prefix", "docker container run --volumes-from $(docker ps -q --filter name=webapp | "
       "cut -c1-6) alpine true"),
    ok("volumes-from", "rm", "docker run --rm --volumes-from webapp alpine ls /usr/local/tomcat/logs"),
    no("volumes-from", "anonymous", "docker run -v /usr/local/tomcat/logs alpine ls /usr/local/tomcat/logs"),
    no("volumes-from", "bind", "docker run -v /tmp:/usr/local/tomcat/logs alpine true"),

    ok("named-volumes", "create-first", "docker volume create webapps && docker volume create logs",
       "docker run -d -v webapps:/usr/local/tomcat/webapps -v logs:/usr/local/tomcat/logs tomcat"),
    ok("named-volumes", "implicit", "docker run -d -v webapps:/usr/local/tomcat/webapps "
       "-v logs:/usr/local/tomcat/logs tomcat"),
    ok("named-volumes", "mount-syntax", "docker run -d --mount source=webapps,target=/usr/local/tomcat/webapps "
       "--mount type=volume,src=logs,dst=/usr/local/tomcat/logs tomcat"),
    ok("named-volumes", "rm", "docker run --rm -v webapps:/usr/local/tomcat/webapps "
       "-v logs:/usr/local/tomcat/logs busybox ls /usr/local/tomcat"),
    no("named-volumes", "two-containers", "docker run -d -v webapps:/usr/local/tomcat/webapps tomcat",
       "docker run -d -v logs:/usr/local/tomcat/logs tomcat"),
    no("named-volumes", "bind-mounts", "mkdir -p /srv/webapps /srv/logs", "docker run -d -v "
       "/srv/webapps:/usr/local/tomcat/webapps -v /srv/logs:/usr/local/tomcat/logs tomcat"),
    no("named-volumes", "one-mounted", "docker volume create webapps; docker volume create logs",
       "docker run -d -v webapps:/usr/local/tomcat/webapps tomcat"),

    ok("data-migration", "container-commands", REDIS_OLD, "docker exec redis-old redis-cli SAVE",
       "docker container stop redis-old", "docker container run -d --name redis-new --volumes-from=redis-old redis:7",
       "sleep 1"),
    ok("data-migration", "named-volume", "docker run -d --name r6 -v counterdata:/data redis:6", "sleep 1",
       "docker exec r6 redis-cli SET counter 42 && docker exec r6 redis-cli SAVE", "docker stop r6",
       "docker run -d --name r7 -v counterdata:/data redis:7", "sleep 1"),
    ok("data-migration", "id-prefix", "old=$(docker run -d redis:6); sleep 1",
       "docker exec $old redis-cli SET counter 42; docker exec $old redis-cli SAVE",
       "docker container stop $old", "docker container run -d --volumes-from ${old:0:8} redis:7", "sleep 1"),
    no("data-migration", "fresh-set", "docker run -d --name r7 redis:7", "sleep 1",
       "docker exec r7 redis-cli SET counter 42"),
    no("data-migration", "same-version", REDIS_OLD, "docker exec redis-old redis-cli SAVE", "docker stop redis-old",
       "docker run -d --name redis-new --volumes-from redis-old redis:6", "sleep 1"),
    no("data-migration", "forgot-incr", "docker run -d --name redis-old redis:6; sleep 1",
       "docker exec redis-old redis-cli SET counter 41 && docker exec redis-old redis-cli SAVE",
       "docker stop redis-old",
       "docker run -d --name redis-new --volumes-from redis-old redis:7", "sleep 1"),

    ok("tmpfs-mount", "equals-any-order", "docker run --mount=destination=/scratch,type=tmpfs,tmpfs-size=10m alpine "
       "df -h /scratch"),
    ok("tmpfs-mount", "create-target", "docker create --mount type=tmpfs,target=/cache busybox"),
    ok("tmpfs-mount", "rm", "docker run --rm --mount type=tmpfs,dst=/scratch alpine df -h /scratch"),
    no("tmpfs-mount", "tmpfs-option", "docker run --tmpfs /scratch alpine df -h /scratch"),
    no("tmpfs-mount", "volume", "docker run --mount type=volume,destination=/scratch alpine true"),

    ok("memory-limit", "short-unit", "docker run -d -m 100M --memory-swap=100M alpine sleep 1000"),
    ok("memory-limit", "bytes", "docker run -d --memory=100000000 --memory-swap=100000000 busybox sleep 1000"),
    ok("memory-limit", "update", "docker run -d alpine sleep 1000",
       "docker update -m 100m --memory-swap 100m $(docker ps -lq)"),
    ok("memory-limit", "rm", "docker run --rm --memory 100m --memory-swap 100m alpine true"),
    no("memory-limit", "swap-doubles", "docker run -d -m 100m alpine sleep 1000"),
    no("memory-limit", "unlimited-swap", "docker run -d -m 100m --memory-swap -1 alpine sleep 1000"),
    no("memory-limit", "two-hundred", "docker run -d -m 200m --memory-swap 200m alpine sleep 1000"),

    ok("cpu-limit", "cpus-equals", "docker run -d --cpus=1.5 alpine sleep 1000"),
    ok("cpu-limit", "cpuset", "docker container run -d --cpuset-cpus 0 alpine sleep 1000"),
    ok("cpu-limit", "quota", "docker run -d --cpu-quota 50000 alpine sleep 1000"),
    ok("cpu-limit", "rm", "docker run --rm --cpus 0.5 alpine true"),
    no("cpu-limit", "shares", "docker run -d --cpu-shares 512 alpine sleep 1000"),
    no("cpu-limit", "period-only", "docker run -d --cpu-period 50000 alpine sleep 1000"),

    # Chapter 6 -------------------------------------------------------------
    ok("uts-namespace", "short-option-job", "unshare -u sh -c 'hostname tupperware && sleep 600' &"),
    ok("uts-namespace", "interactive", "unshare --uts bash", "hostname tupperware", after=("exit",)),
    ok("uts-namespace", "container", "docker run -d --hostname tupperware busybox sleep 600"),
    no("uts-namespace", "sandbox-itself", "hostname tupperware", after=("hostname labdeck",)),
    no("uts-namespace", "exits", "unshare --uts sh -c 'hostname tupperware'"),
    no("uts-namespace", "no-hostname", "nohup unshare --uts sleep 600 >/dev/null 2>&1 &"),

    ok("pid-namespace", "short-options", "unshare -pf --mount-proc sh -c 'sleep 600' &"),
    ok("pid-namespace", "interactive", "unshare --pid --fork --mount-proc bash", "ps faux", after=("exit",)),
    ok("pid-namespace", "container", "docker run -d busybox sleep 600"),
    no("pid-namespace", "no-mount-proc", "nohup unshare --pid --fork sleep 600 >/dev/null 2>&1 &"),
    no("pid-namespace", "exits", "unshare --pid --fork --mount-proc ps faux"),
    no("pid-namespace", "mount-proc-only", "nohup unshare --mount-proc sleep 600 >/dev/null 2>&1 &"),

    ok("veth-pair", "dev-keyword", "ip link add name in_host type veth peer name in_ctr && "
       "ip link set dev in_host master docker0"),
    ok("veth-pair", "peer-end", "ip link add veth_a type veth peer name in_host", "ip link set in_host master docker0"),
    ok("veth-pair", "master-at-add", "ip link add in_host master docker0 type veth peer name in_ctr"),
    no("veth-pair", "not-attached", "ip link add in_host type veth peer name in_netns"),
    no("veth-pair", "other-bridge", "ip link add br-test type bridge 2>/dev/null; "
       "ip link add in_host type veth peer name in_netns && ip link set in_host master br-test"),
    no("veth-pair", "macvlan", "ip link add in_host link eth0 type macvlan && ip link set in_host master docker0"),

    ok("memory-cgroup", "printf-in-dir", CGROUP, "mkdir -p $CG/onehundredmegs && cd $CG/onehundredmegs && "
       "printf 100000000 > $LIMIT; cd"),
    ok("memory-cgroup", "tee", CGROUP, "mkdir $CG/onehundredmegs", f"echo 100000000 | tee {ONE_HUNDRED_MEGS}"),
    no("memory-cgroup", "mebibytes", CGROUP, "mkdir $CG/onehundredmegs", f"echo 100M > {ONE_HUNDRED_MEGS}"),
    no("memory-cgroup", "no-limit", CGROUP, "mkdir $CG/onehundredmegs"),
    no("memory-cgroup", "other-name", CGROUP, "mkdir -p $CG/onehundredmeg && echo 100000000 > "
       "$CG/onehundredmeg/$LIMIT"),

    ok("cap-add", "lowercase-equals", "docker run -d --cap-add=net_admin busybox sleep 600"),
    ok("cap-add", "cap-prefix", "docker run -d --cap-add CAP_NET_ADMIN busybox sleep 600"),
    ok("cap-add", "sys-ptrace", "docker container run -d --cap-add SYS_PTRACE busybox sleep 600"),
    ok("cap-add", "drop-all-add-one", "docker run -d --cap-drop ALL --cap-add NET_ADMIN busybox sleep 600"),
    ok("cap-add", "rm", "docker run --rm --cap-add NET_ADMIN busybox "
       "sh -c 'ip addr add 10.1.2.3/32 dev lo && ip -4 addr show lo'"),
    no("cap-add", "no-cap", "docker run -d busybox sleep 600"),
    no("cap-add", "default-cap", "docker run -d --cap-add CHOWN busybox sleep 600"),
    no("cap-add", "not-in-sandbox", "docker run -d --cap-add SYS_TIME busybox sleep 600"),
    no("cap-add", "drop", "docker run -d --cap-drop NET_RAW busybox sleep 600"),

    ok("whiteout", "shadow", "docker run ubuntu rm /etc/shadow"),
    ok("whiteout", "busybox-passwd", "docker run busybox rm /etc/passwd"),
    ok("whiteout", "running-exec", "docker run -d ubuntu sleep 600", "docker exec $(docker ps -lq) rm /etc/issue"),
    no("whiteout", "rm", "docker run --rm ubuntu rm /etc/shadow", settle=1.1),
    no("whiteout", "added", "docker run ubuntu touch /etc/newfile"),
    no("whiteout", "changed", "docker run ubuntu sh -c 'echo \"# edited\" >> /etc/issue'"),
    no("whiteout", "missing-file", "docker run ubuntu rm -f /etc/no-such-file"),
]

# The answers that remove their container: they pass once the probe remembers
# containers it saw running (see the module's docstring).
NEEDS_DEPARTED = [
    "hello-world-pass-rm",
    "stop-and-kill-pass-rm",
    "curl-nginx-pass-rm",
    "volumes-from-pass-rm",
    "named-volumes-pass-rm",
    "tmpfs-mount-pass-rm",
    "memory-limit-pass-rm",
    "cpu-limit-pass-rm",
    "cap-add-pass-rm",
]

# Exercises whose checks count removed containers or engine events, which no
# setup can take back: near misses get a sandbox of their own, and so does
# each passing answer. ("own": every case in one sandbox of their own.)
ISOLATED = {
    "hello-world": "each", "stop-and-kill": "each", "owner-labels": "each", "curl-nginx": "each",
    "manual-ports": "each", "volumes-from": "each", "named-volumes": "each", "tmpfs-mount": "each",
    "memory-limit": "each", "cpu-limit": "each", "cap-add": "each", "exec-shell": "each",
    "rename-container": "each",
    # Any non-latest tag counts, and other exercises leave some (learner/figlet:1.0).
    "pull-tag": "own",
}
# Chapters whose cases share a sandbox; chapters 2 and 3 both build figlet and hello.
GROUPS = {0: "first-steps", 1: "images", 2: "images", 3: "containers", 4: "networks", 5: "inside"}
# Built once in a sandbox, so that every later build of these steps comes from the cache
# (the exercises' setups remove the images they built, and with them their layers).
PREPARE = {"images": r"""
set -e
mkdir -p /tmp/layers && cd /tmp/layers
build() { printf "$2" > Dockerfile && docker build -q -t "answers-cache/$1" . >/dev/null; }
build apt-figlet-exec 'FROM ubuntu:24.04\nRUN apt-get update\nRUN ["apt-get", "install", "-y", "figlet"]\n'
build apt-figlet-shell 'FROM ubuntu:24.04\nRUN apt-get update\nRUN apt-get install -y figlet\n'
build apt-figlet-one 'FROM ubuntu:24.04\nRUN apt-get update && apt-get install -y figlet\n'
build build-essential 'FROM ubuntu:24.04\nRUN apt-get update && apt-get install -y build-essential\n'
"""}

# Images pulled while a sandbox of these exercises is made, before its cases run.
PULL = {
    "stop-and-kill": ["jpetazzo/clock"], "owner-labels": ["jpetazzo/clock"], "rename-container": ["jpetazzo/clock"],
    "curl-nginx": ["nginx"], "manual-ports": ["nginx"], "volumes-from": ["tomcat", "alpine"],
    "named-volumes": ["tomcat"], "tmpfs-mount": ["alpine"], "memory-limit": ["alpine"], "cpu-limit": ["alpine"],
}

COURSE = catalog.get("intro")
EXERCISES = COURSE.exercises()
CHAPTER = {e.id: index for index, chapter in enumerate(COURSE.chapters) for section in chapter.sections
           for slide in section.slides for e in slide.exercises}


def sandbox_key(case: Case) -> str:
    isolation = ISOLATED.get(case.exercise)
    if isolation == "own" or (isolation == "each" and not case.passes):
        return f"exercise:{case.exercise}"
    if isolation == "each":
        return f"case:{case.id}"
    return f"group:{GROUPS[CHAPTER[case.exercise]]}"


class Sandboxes:
    """Sandboxes made when a case needs them, the next one already being made
    in the background, and removed (in the background too) after the last
    case that uses them."""

    def __init__(self, order: list[str], exercises: dict[str, str]):
        self.order, self.exercises = order, exercises  # a key per selected case, in the order they run
        self.planned, self.used = Counter(order), Counter()
        self.made: dict[str, Future] = {}
        self.started: set[str] = set()
        self.names: set[str] = set()
        self.position = 0
        self.workers = ThreadPoolExecutor(2)
        for key in dict.fromkeys(order):  # the slow ones to prepare first: their images take a while to build
            if key.removeprefix("group:") in PREPARE:
                self._make(key)

    def get(self, key: str) -> str:
        """The sandbox of the case that runs now (cases call this once each, in order)."""
        self._make(key)
        self.position += 1
        following = next((k for k in self.order[self.position:] if k not in self.started), None)
        if following:
            self._make(following)
        return self.made[key].result()

    def done(self, key: str) -> None:
        self.used[key] += 1
        if self.used[key] >= self.planned[key] and key in self.made:
            made = self.made.pop(key)
            self.workers.submit(lambda: self._destroy(made.result()))

    def close(self) -> None:
        self.workers.shutdown(wait=True)
        for name in list(self.names):
            self._destroy(name)

    def _make(self, key: str) -> None:
        if key not in self.started:
            self.started.add(key)
            name = f"answers-{secrets.token_hex(4)}"
            self.names.add(name)
            self.made[key] = self.workers.submit(self._create, name, key)

    def _create(self, name: str, key: str) -> str:
        backend = get_backend()
        backend.create(name, {})
        backend.wait_ready(name, 60)
        backend.exec(name, ["sh", "-c", "while [ ! -e /run/labdeck-images-loaded ] && "
                            "[ -e /opt/labdeck/images/images.txt ]; do sleep 0.2; done"], 300)
        prepare = PREPARE.get(key.removeprefix("group:"), "")
        pulls = " ".join(PULL.get(self.exercises.get(key, ""), ()))
        if pulls:
            prepare += f"\nfor image in {pulls}; do docker pull -q $image >/dev/null; done"
        if prepare:
            result = backend.exec(name, ["bash", "-c", prepare], 600)
            assert result.exit_code == 0, result.output.decode()[-2000:]
        return name

    def _destroy(self, name: str) -> None:
        backend = get_backend()
        try:
            # Processes of a paused container stay frozen, and the engine
            # cannot kill a sandbox that holds frozen processes.
            backend.exec(name, ["sh", "-c", "docker ps -q --filter status=paused | xargs -r docker unpause"], 30)
        except SandboxError:
            pass
        backend.destroy(name)
        self.names.discard(name)


@pytest.fixture(scope="module")
def sandboxes(request):
    ids = {case.id: case for case in CASES}
    selected = [ids[item.callspec.params["case"].id] for item in request.session.items
                if item.module is request.module and hasattr(item, "callspec") and "case" in item.callspec.params]
    pool = Sandboxes([sandbox_key(case) for case in selected],
                     {sandbox_key(case): case.exercise for case in selected if case.exercise in ISOLATED})
    yield pool
    pool.close()


def _passed(case: Case, handle: str, watching: Watching | None = None) -> tuple[bool, list[str]]:
    """The exercise's check, as the checker worker reads it: with the
    containers that the engine watch saw run and go."""
    with Probe(handle, watching.departed(settle=0.3) if watching else None) as probe:
        outcome = evaluate(EXERCISES[case.exercise].check, probe)
    return outcome.passed, outcome.missing


def _read_check(case: Case, handle: str, watching: Watching) -> tuple[bool, list[str]]:
    """A passing answer has PASS_WAIT seconds to turn the exercise green; a near
    miss is read once, after its settle time."""
    if not case.passes:
        time.sleep(case.settle)
        return _passed(case, handle, watching)
    deadline = time.monotonic() + PASS_WAIT
    while True:
        passed, missing = _passed(case, handle, watching)
        if passed or time.monotonic() > deadline:
            return passed, missing
        time.sleep(0.5)


async def _inside(shell: Shell, step: Inside) -> str:
    await shell.stream.write(step.text.encode() + b"\r")
    output, deadline = b"", time.monotonic() + step.timeout
    while not (output.count(b"\n") and PROMPT.search(output)):
        output += await asyncio.wait_for(shell.stream.read(65536), max(deadline - time.monotonic(), 0.01))
    return output.decode("utf-8", "replace")


async def _answer(case: Case, handle: str, watching: Watching) -> tuple[bool, list[str], str]:
    transcript = ""
    async with Shell(handle) as shell:
        for step in case.steps:
            if isinstance(step, Keys):
                await shell.stream.write(step.text.encode())
                await asyncio.sleep(step.pause)
            elif isinstance(step, Inside):
                transcript += await _inside(shell, step)
            else:
                output, _ = await shell.type(step, SCRIPT_TIMEOUT)
                transcript += output
        passed, missing = await asyncio.to_thread(_read_check, case, handle, watching)
        for step in case.after:
            await shell.type(step, 60)
    return passed, missing, transcript


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_answer(case: Case, sandboxes: Sandboxes):
    key = sandbox_key(case)
    handle = sandboxes.get(key)
    try:
        backend = get_backend()
        # Earlier cases typed into this sandbox too: their history is not this learner's.
        backend.exec(handle, ["sh", "-c", ": > /root/.bash_history"], 10)
        if case.before:
            result = backend.exec(handle, ["bash", "-c", case.before], SCRIPT_TIMEOUT)
            assert result.exit_code == 0, f"before: {result.output.decode()[-1000:]}"
        status, output = run_setup(handle, EXERCISES[case.exercise])
        assert status == 0, f"setup exited {status}: {output[-1000:]}"
        if case.passes:
            assert not _passed(case, handle)[0], "the exercise is green before the answer was typed"
        with Watching(handle) as watching:
            passed, missing, transcript = run_async(_answer(case, handle, watching))
        departed = " (it removed its container: the engine watch must have seen it)" \
            if case.id in NEEDS_DEPARTED else ""
        if case.passes:
            assert passed, f"still red{departed}: {missing}\n--- terminal ends:\n{transcript[-2500:]}"
        else:
            assert not passed, f"a near miss turned the exercise green\n--- terminal ends:\n{transcript[-2500:]}"
    finally:
        sandboxes.done(key)


def test_every_exercise_has_alternatives_and_near_misses():
    counts = Counter((case.exercise, case.passes) for case in CASES)
    thin = [f"{e} ({counts[e, True]} pass, {counts[e, False]} fail)" for e in EXERCISES
            if counts[e, True] < 2 or counts[e, False] < 2]
    assert not thin, thin
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    assert set(NEEDS_DEPARTED) <= set(ids)
    assert set(ISOLATED) <= set(EXERCISES) and {case.exercise for case in CASES} <= set(EXERCISES)
