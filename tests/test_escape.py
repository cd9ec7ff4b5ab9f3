"""Escape probes: what a hostile root user in a sandbox tries, refused.

Each probe runs as root inside a real sandbox and checks that a way to the
host, to other learners or to the platform is closed. Following public
container-escape checklists (procfs and sysfs writes, binfmt_misc, cgroup
release agents and limits, devices, kernel modules, BPF and perf, keyrings,
capabilities, host namespaces, writable host mounts). The probes are not
destructive: they open files for appending without writing, call system
calls with arguments that would do nothing, and never trigger anything.
"""
import platform
import secrets
import subprocess
import tempfile

import pytest

from tests.support import engine, own_sandbox

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="system call numbers are x86_64's")

# "WRITABLE" when the path exists and opens for appending (nothing is written).
WRITABLE = r'''
for p in "$@"; do
  if [ -e "$p" ] && { [ -w "$p" ] || (exec 3>>"$p") 2>/dev/null; }; then echo "WRITABLE $p"; fi
done
'''


@pytest.fixture(scope="module")
def sandbox():
    with own_sandbox("escape") as name:
        yield name


def sh(sandbox: str, script: str, *args: str, timeout: float = 60) -> str:
    from sandboxes.backends import get_backend

    result = get_backend().exec(sandbox, ["sh", "-c", script, "probe", *args], timeout)
    assert not result.timed_out, script
    return result.output.decode("utf-8", "replace")


def writable(sandbox: str, *paths: str) -> list[str]:
    return [line.split(" ", 1)[1] for line in sh(sandbox, WRITABLE, *paths).splitlines()
            if line.startswith("WRITABLE ")]


def in_fresh_proc(sandbox: str, script: str) -> str:
    """script with $P a procfs mounted afresh in a mount namespace of its own."""
    return sh(sandbox, f'mkdir -p /tmp/fresh-proc; unshare -m sh -c \'P=/tmp/fresh-proc; '
                       f'mount -t proc proc $P || {{ echo "MOUNT REFUSED"; exit 0; }}; {script}\'')


# -- host root -----------------------------------------------------------------

HOST_KNOBS = ["/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe", "/proc/sysrq-trigger",
              "/proc/sys/vm/drop_caches", "/proc/sys/kernel/panic", "/proc/sys/fs/suid_dumpable",
              "/sys/kernel/uevent_helper", "/sys/power/state", "/sys/devices/system/cpu/cpu1/online",
              "/sys/kernel/mm/transparent_hugepage/enabled", "/proc/sys/kernel/randomize_va_space"]


def test_host_kernel_knobs_are_not_writable(sandbox):
    """core_pattern's pipe helper, modprobe's path, uevent_helper would run
    a program as host root; the others would take the host down."""
    assert writable(sandbox, *HOST_KNOBS) == []


def test_a_fresh_procfs_gives_no_host_knob_either(sandbox):
    """The engine inside needs to mount procfs; the new mount must not be a
    way around the read-only /proc/sys. Only sysctls that belong to the
    sandbox's own namespaces (network, IPC, PID) may be writable there."""
    found = in_fresh_proc(sandbox, 'for f in $(find $P/sys -type f); do (exec 3>>$f) 2>/dev/null && '
                                   'echo ${f#$P/sys/}; done; (exec 3>>$P/sysrq-trigger) 2>/dev/null && echo sysrq')
    own = ("net/", "fs/mqueue/", "kernel/msg", "kernel/sem", "kernel/shm", "kernel/auto_msgmni",
           "kernel/ns_last_pid", "kernel/pid_max")
    assert "kernel/core_pattern" not in found.split() and found.strip()
    assert [line for line in found.split() if not line.startswith(own)] == []


def test_a_fresh_sysfs_is_refused(sandbox):
    out = sh(sandbox, "mkdir -p /tmp/fresh-sys; unshare -m -n sh -c "
                      "'mount -t sysfs sysfs /tmp/fresh-sys && echo MOUNTED; "
                      "(exec 3>>/tmp/fresh-sys/power/state) 2>/dev/null && echo POWER'")
    assert "POWER" not in out and "MOUNTED" not in out


def test_binfmt_misc_is_the_sandboxs_own(sandbox, tmp_path):
    """A binfmt_misc handler runs for every matching program the kernel
    starts. The kernel gives a user namespace an instance of its own: a
    marker registered on the host (it matches no file) is not seen there."""
    marker = f"labdeck-marker-{secrets.token_hex(4)}"
    host = tmp_path / "binfmt"
    host.mkdir()
    mounted = subprocess.run(["mount", "-t", "binfmt_misc", "none", str(host)], capture_output=True).returncode == 0
    try:
        if mounted:
            (host / "register").write_text(f":{marker}:M::\\xde\\xad\\xbe\\xef\\x{secrets.token_hex(1)}::/bin/false:")
        inside = sh(sandbox, "mkdir -p /tmp/fresh-binfmt; unshare -m sh -c "
                             "'mount -t binfmt_misc none /tmp/fresh-binfmt && ls /tmp/fresh-binfmt || echo REFUSED'")
        assert marker not in inside
        if mounted:
            assert (host / marker).exists()
    finally:
        if mounted:
            if (host / marker).exists():
                (host / marker).write_text("-1")
            subprocess.run(["umount", str(host)], check=False)


# x86_64 numbers, harmless arguments: a call that seccomp let through would
# fail on its arguments, not do anything.
REFUSED_CALLS = {
    "bpf": (321, "0, 0, 0"),
    "perf_event_open": (298, "0, 0, -1, -1, 0"),
    "init_module": (175, "0, 0, 0"),
    "finit_module": (313, "-1, 0, 0"),
    "delete_module": (176, "0, 0"),
    "kexec_load": (246, "0, 0, 0, 0"),
    "open_by_handle_at": (304, "-1, 0, 0"),
    "io_uring_setup": (425, "0, 0"),
    "userfaultfd": (323, "0"),
    "swapon": (167, "$path, 0"),
    "reboot": (169, "0, 0, 0, 0"),
    "settimeofday": (164, "0, 0"),
    "syslog": (103, "10, 0, 0"),
    "quotactl": (179, "0, 0, 0, 0"),
    "acct": (163, "0"),
}
NO_KEYRINGS = {"keyctl": (250, "0, 0, 0, 0, 0"), "add_key": (248, "0, 0, 0, 0, 0"),
               "request_key": (249, "0, 0, 0, 0")}


def errnos(sandbox: str, calls: dict) -> dict[str, int]:
    script = 'my $path = "/nonexistent"; ' + "; ".join(f'syscall({number}, {args}); printf "{name} %d\\n", $!+0'
                                                     for name, (number, args) in calls.items())
    out = sh(sandbox, f"perl -e '{script}'")
    return {name: int(code) for name, code in (line.split() for line in out.splitlines() if line.strip())}


def test_seccomp_refuses_the_kernels_riskiest_calls(sandbox):
    """BPF, perf events, modules, kexec, io_uring, userfaultfd, swap, the
    clock and the kernel log: EPERM from our profile, whatever the capability."""
    assert "Seccomp:\t2" in sh(sandbox, "cat /proc/self/status")
    assert errnos(sandbox, REFUSED_CALLS) == dict.fromkeys(REFUSED_CALLS, 1)


def test_the_kernel_keyrings_answer_that_they_do_not_exist(sandbox):
    """Every sandbox of one engine has the same host uid, so keyrings would
    be shared between learners: ENOSYS, which runc inside handles."""
    assert errnos(sandbox, NO_KEYRINGS) == dict.fromkeys(NO_KEYRINGS, 38)
    assert sh(sandbox, "cat /proc/keys 2>/dev/null | wc -c").strip() == "0"


CAP_BITS = {"DAC_READ_SEARCH": 2, "LINUX_IMMUTABLE": 9, "IPC_LOCK": 14, "SYS_MODULE": 16, "SYS_RAWIO": 17,
            "SYS_PACCT": 20, "SYS_BOOT": 22, "SYS_NICE": 23, "SYS_RESOURCE": 24, "SYS_TIME": 25,
            "SYS_TTY_CONFIG": 26, "LEASE": 28, "MAC_OVERRIDE": 32, "MAC_ADMIN": 33, "SYSLOG": 34,
            "WAKE_ALARM": 35, "BLOCK_SUSPEND": 36, "PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40}


def test_the_sandbox_holds_only_the_capabilities_its_engine_needs(sandbox):
    status = sh(sandbox, "cat /proc/self/status")
    bounding = int(next(line for line in status.splitlines() if line.startswith("CapBnd:")).split()[1], 16)
    held = {name for name, bit in CAP_BITS.items() if bounding & (1 << bit)}
    assert held == set()
    assert bounding & (1 << 21) and bounding & (1 << 12) and bounding & (1 << 19)  # SYS_ADMIN, NET_ADMIN, PTRACE


def test_no_device_gives_the_host_disk_or_memory(sandbox):
    out = sh(sandbox, "ls /dev; mknod /tmp/disk b 254 0 2>/dev/null && echo MKNOD; "
                      "head -c1 /dev/mem 2>/dev/null && echo MEM; head -c1 /dev/kmsg 2>/dev/null && echo KMSG; "
                      "dmesg >/dev/null 2>&1 && echo DMESG")
    assert not {"MKNOD", "MEM", "KMSG", "DMESG"} & set(out.split())
    assert not [d for d in out.split() if d.startswith(("vd", "sd", "nvme", "loop", "mem", "kmem", "port"))]
    assert writable(sandbox, "/sys/fs/cgroup/devices/devices.allow", "/sys/fs/cgroup/devices/devices.deny") == []


def test_masked_paths_show_nothing(sandbox):
    out = sh(sandbox, "for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/kallsyms; do "
                      "printf '%s %s\\n' $p $(head -c 64 $p 2>/dev/null | tr -d '\\0' | wc -c); done; "
                      "ls /sys/firmware | wc -l")
    sizes = dict(line.split() for line in out.splitlines()[:-1])
    assert sizes["/proc/kcore"] == sizes["/proc/keys"] == sizes["/proc/timer_list"] == "0"
    assert out.splitlines()[-1] == "0"


# -- starving the host ---------------------------------------------------------

OWN_LIMITS = ["/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes",
              "/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.shares",
              "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/cpu.max"]


def test_the_sandbox_cannot_raise_its_own_limits(sandbox):
    """Its cgroup directory is its own (its engine makes cgroups there), the
    limit files in it are host root's."""
    assert writable(sandbox, *OWN_LIMITS) == []
    assert sh(sandbox, "mkdir /sys/fs/cgroup/memory/probe && echo 100000000 > "
                       "/sys/fs/cgroup/memory/probe/memory.limit_in_bytes && echo CHILD-OK; "
                       "rmdir /sys/fs/cgroup/memory/probe").strip() == "CHILD-OK"


def test_no_new_cgroup_hierarchy_and_no_release_agent(sandbox):
    """A hierarchy of its own would have a release_agent the sandbox could
    set (CVE-2022-0492). Mounting an existing one shows the sandbox's own
    subtree only, whose limits stay host root's."""
    out = sh(sandbox, "mkdir -p /tmp/cg; unshare -m sh -c 'mount -t cgroup -o none,name=probe cgroup /tmp/cg "
                      "&& echo NEW-HIERARCHY'; unshare -m sh -c 'mount -t cgroup -o memory cgroup /tmp/cg && "
                      "cat /tmp/cg/memory.limit_in_bytes && (exec 3>>/tmp/cg/memory.limit_in_bytes) 2>/dev/null && "
                      "echo LIMIT-WRITABLE'; ls /sys/fs/cgroup/*/release_agent 2>/dev/null")
    from django.conf import settings

    assert "NEW-HIERARCHY" not in out and "LIMIT-WRITABLE" not in out
    assert str(512 * 1024 * 1024) in out.split() or settings.LABDECK_SANDBOX_MEMORY != "512m"
    assert writable(sandbox, *[p for p in out.split() if p.endswith("release_agent")]) == []


def test_host_paths_bound_in_stay_read_only(sandbox):
    """The image cache every sandbox loads, and the files Docker binds from
    its data root: remounting them read-write is refused, and they belong to
    host root anyway."""
    out = sh(sandbox, "mount -o remount,rw /opt/labdeck/images 2>/dev/null && echo REMOUNTED; "
                      "touch /opt/labdeck/images/probe 2>/dev/null && echo WROTE; stat -c '%u' /opt/labdeck/images")
    assert "REMOUNTED" not in out and "WROTE" not in out
    assert writable(sandbox, "/etc/hosts", "/etc/hostname", "/etc/resolv.conf") == []


# -- other learners and the host's namespaces ------------------------------------

def test_the_sandbox_sees_its_own_processes_and_interfaces_only(sandbox):
    out = sh(sandbox, "cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /proc | grep -c '^[0-9]'; "
                      "ls /sys/class/net; hostname")
    lines = out.splitlines()
    assert lines[0].startswith("/usr/bin/tini")
    assert int(lines[1]) < 100
    assert set(lines[2:-1]) <= {"lo", "eth0", "docker0"} and lines[-1] == "labdeck"


def test_the_host_engine_is_out_of_reach(sandbox):
    """No socket of the sandbox engine or of the host's Docker is inside, and
    the sandbox's own Docker socket belongs to its inner engine."""
    out = sh(sandbox, "for s in /run/labdeck/engine.sock /run/docker.sock.host /var/run/docker.sock; do "
                      "[ -S $s ] && echo $s; done; docker info --format '{{.Name}}'")
    assert out.split() == ["/var/run/docker.sock", "labdeck"]
    assert engine().containers.get(sandbox).attrs["HostConfig"]["Privileged"] is False


def test_temp_dirs_of_the_host_are_not_shared(sandbox):
    with tempfile.NamedTemporaryFile(dir="/tmp", prefix="labdeck-host-") as marker:
        assert marker.name.split("/")[-1] not in sh(sandbox, "ls /tmp /var/tmp")
