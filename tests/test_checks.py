"""Each kind of check against real Docker state in a real sandbox: it
accepts the state that proves an exercise done and rejects near misses."""
import secrets

import pytest

from lessons import checks
from lessons.checker import evaluate
from lessons.commandline import docker_commands
from lessons.probe import Probe

SCENE = r"""
set -e
docker run --name hello busybox echo hello world
docker run --name bye busybox echo goodbye
docker run -d --name ticktock --label owner=alice --label empty= busybox sleep 600
docker container run --detach --name stopped busybox sleep 600
docker stop -t 0 stopped && docker start stopped
docker run -d --name limited --memory 100m --memory-swap 100m --cpus 0.5 --cap-add NET_ADMIN busybox sleep 600
docker run -d --name web -P -p 8000:80 busybox httpd -f -v -p 80
docker run -d --name scratchpad --mount type=tmpfs,destination=/cache busybox sleep 600
docker volume create webapps
docker run -d --name user --volumes-from web -v webapps:/apps busybox sh -c 'echo ready-to-serve; sleep 600'
docker run --name changer busybox sh -c 'rm /etc/group; mkdir -p /srv && touch /srv/added'
docker run -d --name roomy -m 100m --cap-add chown busybox sleep 600
docker run -d --name user2 -v webapps:/w busybox sleep 600
docker run -d --name nocap --cap-add SYS_TIME busybox sleep 600 2>/dev/null || true
docker exec ticktock sh -c true
docker network create backend
docker rename bye farewell
mkdir -p /tmp/img && cd /tmp/img
printf 'FROM busybox\nRUN ["touch", "/exec-form"]\nRUN echo shell > /shell\n' > Dockerfile
printf 'ENTRYPOINT ["/bin/echo", "-n"]\nCMD ["hi there"]\n' >> Dockerfile
DOCKER_BUILDKIT=0 docker build -q -t figlet . >/dev/null
docker tag figlet someone/figlet
printf 'FROM busybox\nRUN dd if=/dev/zero of=/big bs=1M count=3\nCMD echo big\n' > Dockerfile
DOCKER_BUILDKIT=0 docker build -q -t bigger . >/dev/null
printf '#1700000000\ndocker logs --tail 3 ticktock\n#1700000001\ndocker inspect --format "{{ .Name }}" web\n' \
  >> /root/.bash_history
printf '%s\n' 'sudo docker container logs ticktock -n3 | head' 'docker run --rm -it --entrypoint=sh figlet -c true' \
  >> /root/.bash_history
unshare --uts --pid --fork --mount-proc sh -c 'hostname tupperware; sleep 600' &
ip link add in_host type veth peer name in_ctr && ip link set in_host master docker0
mkdir -p /sys/fs/cgroup/memory/onehundredmegs 2>/dev/null && \
  echo 100000000 > /sys/fs/cgroup/memory/onehundredmegs/memory.limit_in_bytes || true
sleep 1
"""


@pytest.fixture(scope="module")
def handle():
    from sandboxes.backends import get_backend

    backend = get_backend()
    name = f"checks-{secrets.token_hex(4)}"
    backend.create(name, {})
    try:
        backend.wait_ready(name, 60)
        result = backend.exec(name, ["bash", "-c", SCENE], 120)
        assert result.exit_code == 0, result.output.decode()
        yield name
    finally:
        backend.destroy(name)


CASES = [
    # (check, expected) — near misses are expected to fail.
    ({"container": {"image": "busybox", "command": "echo hello world", "exit_code": 0}}, True),
    ({"container": {"image": "busybox", "command": "echo hello world", "running": True}}, False),
    ({"container": {"image": "busybox:latest", "name": "hello"}}, True),
    ({"container": {"image": "ubuntu"}}, False),
    ({"container": {"name": "ticktock", "running": True, "detached": True}}, True),
    ({"container": {"name": "hello", "detached": True}}, False),
    ({"container": {"image": "busybox", "running": True, "count": 4}}, True),
    ({"container": {"image": "busybox", "running": True, "count": 9}}, False),
    ({"container": {"labels": {"owner": "alice", "empty": ""}}}, True),
    ({"container": {"labels": {"owner": "bob"}}}, False),
    ({"container": {"name": "stopped", "restarted": True, "running": True}}, True),
    ({"container": {"name": "ticktock", "restarted": True}}, False),
    ({"container": {"memory": 104857600, "memory_swap": 104857600, "cpus": True, "cap_add": "NET_ADMIN"}}, True),
    ({"container": {"name": "ticktock", "cpus": True}}, False),
    ({"container": {"publish_all": True, "ports": {"80/tcp": 8000}}}, True),
    ({"container": {"name": "scratchpad", "tmpfs": True}}, True),
    ({"container": {"name": "web", "tmpfs": True}}, False),
    ({"container": {"ports": {"80": [8080, 8888]}}}, False),
    ({"container": {"volumes_from": True, "mounts": [{"type": "volume", "name": "webapps"}]}}, True),
    ({"container": {"name": "web", "volumes_from": True}}, False),
    ({"container": {"diff": {"deleted": "/etc/group", "added": "/srv/added"}}}, True),
    ({"container": {"diff": {"deleted": "/etc/passwd"}}}, False),
    ({"container": {"logs": "^ready-to-serve$"}}, True),
    ({"container": {"logs": "not-in-any-log"}}, False),
    ({"container": {"exec": {"run": "ls /apps && echo mounted", "output": "^mounted"}}}, True),
    ({"container": {"name": "hello", "exec": {"run": "true", "output": ""}}}, False),
    ({"image": {"tag": "figlet", "entrypoint": ["echo", "-n"], "cmd": "hi there", "exec_form": ["cmd", "entrypoint"]}},
     True),
    ({"image": {"tag": "bigger", "exec_form": ["cmd"]}}, False),
    ({"image": {"tag": "figlet", "run_exec_form": True, "history": "echo shell"}}, True),
    ({"image": {"tag": "bigger", "run_exec_form": True}}, False),
    ({"image": {"tag": "someone/figlet", "same_id_as": "figlet"}}, True),
    ({"image": {"tag": "bigger", "same_id_as": "figlet"}}, False),
    ({"image": {"tag": "figlet", "smaller_than": "bigger", "has_file": "/exec-form", "lacks_file": "/big"}}, True),
    ({"image": {"tag": "bigger", "smaller_than": "figlet"}}, False),
    ({"image": {"tag": "figlet", "output": {"run": "", "output": "^hi there$"}}}, True),
    ({"image": {"tag": "bigger", "output": {"run": "", "output": "^hi there$"}}}, False),
    ({"image": {"not_tag": "latest"}}, False),
    ({"image": {"tag": "figlet", "based_on": "busybox"}}, True),
    ({"image": {"tag": "busybox", "based_on": "figlet"}}, False),
    ({"volume": {"name": "webapps"}}, True),
    ({"volume": {"name": "logs"}}, False),
    ({"network": {"name": "backend"}}, True),
    ({"network": {"name": "frontend"}}, False),
    ({"history": r"docker (container )?logs .*(--tail|-n)"}, True),
    ({"history": r"--detach-keys"}, False),
    ({"event": {"type": "container", "action": "rename"}}, True),
    ({"event": {"type": "container", "action": "pause"}}, False),
    ({"sandbox": {"process": {"hostname": "tupperware", "own_pid_ns": True}}}, True),
    ({"sandbox": {"process": {"hostname": "lunchbox"}}}, False),
    ({"sandbox": {"interface": {"name": "in_host", "master": "docker0"}}}, True),
    ({"sandbox": {"interface": {"name": "in_ctr", "master": "docker0"}}}, False),
    ({"sandbox": {"cgroup": {"name": "onehundredmegs", "memory_limit": 100000000}}}, True),
    ({"sandbox": {"cgroup": {"name": "onehundredmegs", "memory_limit": 200000000}}}, False),
    ({"all": [{"volume": {"name": "webapps"}}, {"not": {"network": {"name": "frontend"}}}]}, True),
    ({"any": [{"volume": {"name": "logs"}}, {"network": {"name": "frontend"}}]}, False),
    ({"container": {"name": "hello", "ran": True, "departed": False}}, True),
    ({"container": {"name": "nocap", "ran": True}}, False),
    ({"container": {"name": "hello", "departed": True}}, False),
    ({"container": {"name": "limited", "memory": [100000000, 104857600], "swap": False}}, True),
    ({"container": {"name": "roomy", "memory": [100000000, 104857600], "swap": False}}, False),
    ({"container": {"cap_add": True, "ran": True}}, True),
    ({"container": {"name": "roomy", "cap_add": True}}, False),
    ({"container": {"name": "roomy", "cap_add": "CAP_CHOWN"}}, True),
    ({"container": {"name": "user", "shares_volumes_with": {"name": "web"}}}, True),
    ({"container": {"name": "user2", "shares_volumes_with": {"name": "user"}}}, True),
    ({"container": {"name": "user", "shares_volumes_with": {"name": "ticktock"}}}, False),
    ({"container": {"name": "scratchpad", "mounts": [{"type": "tmpfs", "destination": "/cache"}]}}, True),
    ({"container": {"name": "changer", "diff": {"deleted": True, "untouched": "/etc/passwd"}}}, True),
    ({"container": {"name": "hello", "diff": {"deleted": True}}}, False),
    ({"container": {"name": "changer", "diff": {"untouched": "/etc/group"}}}, False),
    ({"image": {"tag_matches": "^someone/figlet:", "same_id_as": "figlet"}}, True),
    ({"image": {"tag_matches": "^nobody/"}}, False),
    ({"image": {"tag": "figlet", "runs": "echo -n hi"}}, True),
    ({"image": {"tag": "bigger", "runs": "figlet"}}, False),
    ({"image": {"tag": "figlet", "entrypoint": ["/usr/bin/echo", "-n"]}}, False),
    ({"command": {"name": "logs", "options": {"--tail": "^3$"}}}, True),
    ({"command": {"name": "logs", "options": {"--since": ""}}}, False),
    ({"command": {"name": "run", "image": "figlet", "options": {"--entrypoint": "^sh$"}}}, True),
    ({"command": {"name": "run", "image": "busybox", "options": {"--entrypoint": ""}}}, False),
    ({"command": {"name": "inspect", "options": {"--format": "Name", "--type": None}, "args": 1}}, True),
    ({"command": {"name": "inspect", "args": 2}}, False),
    ({"event": {"type": "container", "action": "exec_start", "detail": "^sh -c true$"}}, True),
    ({"event": {"type": "container", "action": "exec_start", "detail": "^bash"}}, False),
    ({"sandbox": {"own_proc": True}}, True),
    ({"sandbox": {"own_proc": False}}, False),
    ({"sandbox": {"interface": {"name": "in_host", "master": "docker0", "kind": "veth"}}}, True),
    ({"sandbox": {"interface": {"name": "in_host", "kind": "bridge"}}}, False),
]


@pytest.mark.parametrize(("check", "expected"), CASES, ids=[f"{i}-{'pass' if e else 'fail'}" for i, (_, e)
                                                            in enumerate(CASES)])
def test_check_kind(handle, check, expected):
    with Probe(handle) as probe:
        assert evaluate(checks.parse(check), probe).passed is expected


def test_a_failing_check_says_what_is_missing(handle):
    check = checks.parse({"all": [
        {"volume": {"name": "webapps"}, "message": "Create the webapps volume."},
        {"volume": {"name": "logs"}, "message": "Create the logs volume."},
    ]})
    with Probe(handle) as probe:
        assert evaluate(check, probe).missing == ["Create the logs volume."]


def test_one_probe_serves_a_whole_round(handle, monkeypatch):
    """All container and image checks of a round share one connection to the
    sandbox's engine, and run no program of the sandbox but its relay."""
    from sandboxes.backends import get_backend

    backend = get_backend()
    relays, execs = [], []
    open_relay, exec_ = backend.open_relay, backend.exec
    monkeypatch.setattr(backend, "open_relay", lambda *a, **k: relays.append(a) or open_relay(*a, **k))
    monkeypatch.setattr(backend, "exec", lambda *a, **k: execs.append(a) or exec_(*a, **k))
    with Probe(handle) as probe:
        for check, _ in CASES[:18]:
            evaluate(checks.parse(check), probe)
    assert len(relays) == 1 and execs == []


COMMAND_LINES = [
    # (a line of shell history, the docker commands in it as (name, options, arguments))
    ("docker logs --tail 3 $(docker ps -lq) 2>&1 | head",
     [("logs", {"--tail": ["3"]}, ["$(docker ps -lq)"]), ("ps", {"--latest": [""], "--quiet": [""]}, [])]),
    ("sudo docker container logs clock -fn3", [("logs", {"--follow": [""], "--tail": ["3"]}, ["clock"])]),
    ("docker logs clock | tail -n 3", [("logs", {}, ["clock"])]),
    ("X=1 docker container run -dP --name=web nginx:1.27 sh -c 'echo a; sleep 1' &",
     [("run", {"--detach": [""], "--publish-all": [""], "--name": ["web"]},
       ["nginx:1.27", "sh", "-c", "echo a; sleep 1"])]),
    ("docker run --rm -it --entrypoint sh figlet -c ls",
     [("run", {"--rm": [""], "--interactive": [""], "--tty": [""], "--entrypoint": ["sh"]}, ["figlet", "-c", "ls"])]),
    ("time docker -H unix:///var/run/docker.sock version",
     [("version", {"--host": ["unix:///var/run/docker.sock"]}, [])]),
    ("docker --version", [("", {"--version": [""]}, [])]),
    ('docker container list -a --filter "label=owner=alice"',
     [("ps", {"--all": [""], "--filter": ["label=owner=alice"]}, [])]),
    ("docker image tag figlet learner/figlet", [("tag", {}, ["figlet", "learner/figlet"])]),
    ("docker inspect -f={{.Name}} x > out.txt", [("inspect", {"--format": ["{{.Name}}"]}, ["x"])]),
    ("for c in $(docker ps -aq); do docker rm -f $c; done",
     [("rm", {"--force": [""]}, ["$c"]), ("ps", {"--all": [""], "--quiet": [""]}, [])]),
    ("docker ps -q | xargs -r docker kill", [("ps", {"--quiet": [""]}, []), ("kill", {}, [])]),
    ("docker network inspect bridge  # where are they?", [("network inspect", {}, ["bridge"])]),
    ('echo "docker version"; echo \'docker ps\'', []),
]


@pytest.mark.parametrize(("line", "expected"), COMMAND_LINES, ids=[f"cli-{i}" for i in range(len(COMMAND_LINES))])
def test_command_lines_read_as_the_cli_reads_them(line, expected):
    found = [(c.name, c.options, c.args) for c in docker_commands(line)]
    assert found == expected
