"""The backend contract (sandboxes/backends/base.py), one test run against
every backend: the Docker engine alone, and the several-hosts backend (here
with one host on the same engine, so that its routing by handle is what is
tested; tests/test_hosts.py runs it on three engines over TLS)."""
from __future__ import annotations

import asyncio
import os
import secrets
import time

import pytest

from sandboxes.backends.base import BackendUnavailable, SandboxError
from tests.support import run_async


def docker_backend():
    from sandboxes.backends.docker import DockerBackend

    return DockerBackend.from_settings()


def hosts_backend():
    from sandboxes.backends.hosts import HostsBackend

    return HostsBackend({"local": docker_backend()})


BACKENDS = {"docker": docker_backend, "hosts": hosts_backend}


@pytest.fixture(scope="module", params=list(BACKENDS))
def made(request):
    """A backend and a sandbox it made (on its first host)."""
    backend = BACKENDS[request.param]()
    host = backend.hosts()[0].name
    name = f"labdeck-test-contract-{secrets.token_hex(3)}"
    handle = backend.create(name, {"org.labdeck.owner": "contract"}, host)
    try:
        backend.wait_ready(handle, 60)
        yield backend, handle, name, host
    finally:
        backend.destroy(handle)


def test_it_answers_and_describes_its_workers(made):
    backend, _, _, host = made
    backend.ping()
    assert isinstance(backend.prepare(), str)
    assert all(h.capacity > 0 for h in backend.hosts())
    backend.ping_host(host)


def test_a_sandbox_runs_is_listed_and_has_stats(made):
    backend, handle, name, host = made
    assert backend.poll(handle) is None
    listed = {m.name: m for m in backend.list_managed(host)}
    assert listed[name].running and listed[name].labels["org.labdeck.owner"] == "contract"
    assert listed[name].handle == handle
    assert backend.stats(handle)["memory_bytes"] > 0


def test_exec_is_bounded_in_bytes_and_time(made):
    backend, handle, _, _ = made
    result = backend.exec(handle, ["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert (result.exit_code, sorted(result.output.split())) == (7, [b"err", b"out"])
    flood = backend.exec(handle, ["sh", "-c", "yes"], 10, 4096)
    assert flood.truncated and len(flood.output) == 4096
    started = time.monotonic()
    hang = backend.exec(handle, ["sleep", "60"], 1)
    assert hang.timed_out and time.monotonic() - started < 4


def test_relays_carry_bytes_both_ways_and_keep_their_deadline(made):
    backend, handle, _, _ = made
    relay = backend.open_relay(handle, ["cat"], 5)
    relay.send(b"ping\n")
    assert relay.recv(100) == b"ping\n"
    relay.extend(0.5)
    with pytest.raises(TimeoutError):
        relay.recv(100)
    relay.close()

    async def async_roundtrip() -> bytes:
        stream = await backend.open_relay_async(handle, ["cat"])
        try:
            await stream.send(b"pong\n")
            return await asyncio.wait_for(stream.recv(100), 5)
        finally:
            await stream.close()

    assert run_async(async_roundtrip()) == b"pong\n"


def test_a_terminal_has_a_tty_that_follows_resizes(made):
    backend, handle, _, _ = made

    async def session() -> bytes:
        terminal = await backend.open_terminal(handle, 80, 24, ["sh"])
        try:
            await terminal.resize(101, 33)
            await terminal.write(b"stty size; tty\r")
            seen = b""
            while b"33 101" not in seen or b"/dev/pts" not in seen:
                seen += await asyncio.wait_for(terminal.read(4096), 10)
            return seen
        finally:
            await terminal.close()

    assert b"33 101" in run_async(session())


def test_files_are_read_by_the_worker_within_their_limit(made):
    backend, handle, _, _ = made
    backend.exec(handle, ["sh", "-c", "printf 0123456789 > /root/ten; ln -sf /dev/zero /root/zero"])
    assert backend.read_file(handle, "/root/ten", 100) == b"0123456789"
    assert backend.read_file(handle, "/root/ten", 4) == b"0123"
    assert backend.read_file(handle, "/root/zero", 100) is None
    assert backend.read_file(handle, "/root/none", 100) is None


def sh(backend, handle: str, script: str) -> str:
    result = backend.exec(handle, ["sh", "-c", script])
    assert result.exit_code == 0, result.output
    return result.output.decode()


def test_files_are_written_by_the_worker_with_their_content_and_mode(made):
    backend, handle, _, _ = made
    backend.write_file(handle, "/root/written.txt", b"first\n")
    backend.write_file(handle, "/root/script.sh", b"#!/bin/sh\necho ran\n", 0o750)
    assert sh(backend, handle, "cat /root/written.txt; stat -c '%a %u:%g' /root/written.txt") == "first\n644 0:0\n"
    assert sh(backend, handle, "stat -c '%a' /root/script.sh; /root/script.sh") == "750\nran\n"
    backend.write_file(handle, "/root/written.txt", b"second")
    assert backend.read_file(handle, "/root/written.txt", 100) == b"second"
    backend.write_file(handle, "/root/script.sh", b"#!/bin/sh\necho saved again\n")
    assert sh(backend, handle, "stat -c '%a' /root/script.sh; /root/script.sh") == "750\nsaved again\n"
    backend.write_file(handle, "/root/new/deeper/file", b"")
    assert sh(backend, handle, "stat -c '%a %u:%g' /root/new /root/new/deeper /root/new/deeper/file") == \
        "755 0:0\n755 0:0\n644 0:0\n"


def test_a_write_stays_inside_the_sandbox(made):
    """`..` is taken lexically from "/", and symlinks, among the parents or
    at the path itself, resolve inside the sandbox's own root or are replaced."""
    backend, handle, _, _ = made
    token = f"labdeck-test-escape-{secrets.token_hex(4)}"
    backend.write_file(handle, f"/root/../../../../{token}", b"dots")
    sh(backend, handle, "ln -sfn /../../../../../etc /root/out; ln -sfn ../../../../../../../etc /root/up; "
                        "ln -sf /etc/passwd /root/pw; ln -sf /dev/zero /root/zero")
    backend.write_file(handle, f"/root/out/{token}", b"out")
    backend.write_file(handle, f"/root/up/{token}.up", b"up")
    assert sh(backend, handle, f"cat /{token} /etc/{token} /etc/{token}.up") == "dotsoutup"
    for place in (f"/{token}", f"/etc/{token}", f"/etc/{token}.up"):
        assert not os.path.exists(place)  # the worker's own filesystem
    backend.write_file(handle, "/root/pw", b"not a password file\n")
    backend.write_file(handle, "/root/zero", b"zero")
    assert sh(backend, handle, "head -c 11 /etc/passwd; echo; [ -L /root/pw ] || [ -L /root/zero ] || echo files") \
        == "root:x:0:0:\nfiles\n"
    assert backend.read_file(handle, "/root/zero", 100) == b"zero"


def test_a_write_that_cannot_be_made_is_a_sandbox_error(made):
    backend, handle, _, _ = made
    with pytest.raises(SandboxError, match="is a directory"):
        backend.write_file(handle, "/root", b"x")
    assert sh(backend, handle, "[ -d /root ] && echo dir") == "dir\n"
    sh(backend, handle, "printf x > /root/plain")
    with pytest.raises(SandboxError, match="not a directory"):
        backend.write_file(handle, "/root/plain/child", b"x")
    with pytest.raises(ValueError):
        backend.write_file(handle, "root/relative", b"x")
    with pytest.raises(ValueError):
        backend.write_file(handle, "/", b"x")


def test_a_write_into_the_worker_s_read_only_image_cache_is_refused(made, settings):
    backend, handle, _, _ = made
    if not os.path.isdir(settings.LABDECK_IMAGE_CACHE):
        pytest.skip("no image cache bound into the sandboxes")
    name = f"labdeck-test-{secrets.token_hex(4)}"
    with pytest.raises(SandboxError, match="read-only"):
        backend.write_file(handle, f"/opt/labdeck/images/{name}", b"x")
    assert not os.path.exists(os.path.join(settings.LABDECK_IMAGE_CACHE, name))


@pytest.mark.parametrize("kind", list(BACKENDS))
def test_destroy_removes_it_and_may_be_repeated(kind):
    backend = BACKENDS[kind]()
    host = backend.hosts()[0].name
    handle = backend.create(f"labdeck-test-contract-{secrets.token_hex(3)}", {}, host)
    backend.destroy(handle)
    backend.destroy(handle)
    assert backend.poll(handle) == "gone"
    assert handle not in {m.handle for m in backend.list_managed(host)}
    with pytest.raises(SandboxError):
        backend.exec(handle, ["true"])
    with pytest.raises(SandboxError):
        backend.write_file(handle, "/root/x", b"x")


@pytest.mark.parametrize("kind", list(BACKENDS))
def test_a_node_set_is_one_sandbox_of_several_machines(kind):
    """Each node is a machine of its own (node_handle names it); the set
    is listed, polled and removed as one."""
    from tests.support import engine

    backend = BACKENDS[kind]()
    host = backend.hosts()[0].name
    name = f"labdeck-test-contract-{secrets.token_hex(3)}"
    handle = backend.create(name, {"org.labdeck.owner": "contract"}, host, nodes=2)
    try:
        backend.wait_ready(handle, 120)
        assert backend.node_handle(handle, 1) == handle
        for node in (1, 2):
            result = backend.exec(backend.node_handle(handle, node), ["hostname"])
            assert result.output.strip() == f"node{node}".encode()
        listed = [m for m in backend.list_managed(host) if m.name == name]
        assert [(m.handle, m.running) for m in listed] == [(handle, True)]
        assert backend.poll(handle) is None
        engine().containers.get(backend.node_handle(handle, 2).rpartition("/")[2]).kill()
        assert backend.poll(handle) == "exited (137)"  # one node down: the set is down
        assert [m.running for m in backend.list_managed(host) if m.name == name] == [False]
    finally:
        backend.destroy(handle)
    assert backend.poll(handle) == "gone"
    docker = engine()
    assert docker.containers.list(all=True, filters={"label": f"org.labdeck.sandbox={name}"}) == []
    assert [n for n in docker.networks.list(names=[name]) if n.name == name] == []


@pytest.mark.parametrize("kind", list(BACKENDS))
def test_a_failed_create_leaves_nothing_behind(kind, settings):
    settings.LABDECK_SANDBOX_IMAGE = "labdeck/no-such-image:latest"
    backend = BACKENDS[kind]()
    host = backend.hosts()[0].name
    name = f"labdeck-test-contract-{secrets.token_hex(3)}"
    with pytest.raises(SandboxError):
        backend.create(name, {}, host)
    assert name not in {m.name for m in backend.list_managed(host)}


@pytest.mark.parametrize("kind", list(BACKENDS))
def test_a_dead_worker_is_unavailable(kind, settings):
    settings.LABDECK_DOCKER_HOST = "unix:///run/labdeck-no-such-engine.sock"
    backend = BACKENDS[kind]()
    with pytest.raises(BackendUnavailable):
        backend.ping()
    with pytest.raises(BackendUnavailable):
        backend.ping_host(backend.hosts()[0].name)
    with pytest.raises(BackendUnavailable):
        backend.write_file(f"{backend.hosts()[0].name}/sb-x".lstrip("/"), "/root/x", b"x")
