"""What a learner can and cannot reach from inside a sandbox."""
import pytest

from sandboxes import lifecycle
from sandboxes.backends.docker import CAPABILITIES
from tests.support import engine, ready_sandbox

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_sandboxes(backend):
    a, b = ready_sandbox("alice").sandbox, ready_sandbox("bob").sandbox
    yield a, b
    lifecycle.stop(a, "test")
    lifecycle.stop(b, "test")


def sh(backend, sandbox, script: str):
    return backend.exec(sandbox.handle, ["sh", "-c", script])


def test_it_is_not_privileged_and_has_limits(two_sandboxes, settings):
    a, _ = two_sandboxes
    attrs = engine().containers.get(a.handle).attrs
    host = attrs["HostConfig"]
    assert host["Privileged"] is False
    assert sorted(host["CapAdd"]) == sorted(CAPABILITIES)
    assert "SYS_MODULE" not in host["CapAdd"] and "SYS_RESOURCE" not in host["CapAdd"]
    assert host["Memory"] == 512 * 1024 * 1024 and host["MemorySwap"] == host["Memory"]
    assert host["NanoCpus"] == int(settings.LABDECK_SANDBOX_CPUS * 1e9)
    assert host["PidsLimit"] == settings.LABDECK_SANDBOX_PIDS
    assert host["CgroupnsMode"] == "private"
    assert host["StorageOpt"] == {"size": settings.LABDECK_SANDBOX_DISK}
    # Docker's default masks stay; no seccomp=unconfined, so the engine's profile applies.
    assert host["MaskedPaths"] and "/proc/kcore" in host["MaskedPaths"]
    assert not any("unconfined" in opt for opt in host.get("SecurityOpt") or [])
    mounts = {m["Destination"]: m for m in attrs["Mounts"]}
    assert set(mounts) == {"/opt/labdeck/images"} and mounts["/opt/labdeck/images"]["RW"] is False
    assert attrs["Config"]["Labels"]["org.labdeck.owner"] == "alice"


def test_root_in_the_sandbox_is_an_unprivileged_user_on_the_host(backend, two_sandboxes):
    a, _ = two_sandboxes
    inside = sh(backend, a, "id -u; cat /proc/self/uid_map").output.decode().split()
    assert inside[0] == "0"
    assert inside[1:3] == ["0", "100000"], inside
    pid = engine().containers.get(a.handle).attrs["State"]["Pid"]
    with open(f"/proc/{pid}/status") as status:
        uids = next(line for line in status if line.startswith("Uid:")).split()[1:]
    assert set(uids) == {"100000"}


def test_it_shows_the_learner_only_their_own_engine_and_cgroups(backend, two_sandboxes):
    a, b = two_sandboxes
    containers = sh(backend, a, "docker ps -a --format '{{.Names}}'").output.decode()
    assert a.name not in containers and b.name not in containers
    assert sh(backend, a, "cat /proc/1/cgroup").output.decode().splitlines()[0].endswith(":/")
    # The private cgroup namespace hides every other cgroup of the host.
    listing = sh(backend, a, "ls /sys/fs/cgroup/memory/ /sys/fs/cgroup/ 2>/dev/null").output.decode()
    assert b.handle not in listing and "docker" not in listing.split()
    limit = sh(backend, a, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null "
                           "|| cat /sys/fs/cgroup/memory.max").output.decode().strip()
    assert limit == str(512 * 1024 * 1024)


def test_it_keeps_sandboxes_from_reaching_each_other(backend, two_sandboxes):
    a, b = two_sandboxes
    b_ip = engine().containers.get(b.handle).attrs["NetworkSettings"]["Networks"]
    b_ip = next(iter(b_ip.values()))["IPAddress"]
    assert sh(backend, b, "ping -c1 -W1 127.0.0.1").exit_code == 0
    assert sh(backend, a, f"ping -c1 -W1 {b_ip}").exit_code != 0


def test_it_caps_the_number_of_processes(backend, two_sandboxes, settings):
    """The kernel's pids controller, as the sandbox sees it, holds the configured cap."""
    a, _ = two_sandboxes
    cap = sh(backend, a, "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max")
    assert cap.output.decode().strip() == str(settings.LABDECK_SANDBOX_PIDS)
