#!/usr/bin/env python3
"""Write the seccomp profile of the sandbox engine (JSON, Docker's format).

An allow list: a system call that is not named here fails with EPERM.
It lets a sandbox do what a Docker engine inside it needs (mounts,
namespaces, chroot, ptrace for nsenter and debuggers) and refuses what
could reach the host's kernel state or other sandboxes: BPF, perf events,
kernel modules, kexec, reboot, swap, accounting, the clock, raw I/O ports,
the kernel log, file handles (open_by_handle_at), io_uring and the kernel
keyrings. The keyring calls answer ENOSYS rather than EPERM, so that runc
inside the sandbox falls back to running without a session keyring instead
of failing: every sandbox of one engine has the same host uid, so a keyring
would be shared between learners.

Written for Labdeck rather than derived at set-up from Docker's default
profile: Debian ships that file only in a Go development package of 500
dependencies. The list follows the same idea (allow the ordinary calls,
name the risky ones) and is checked by tests/test_escape.py.

Usage: seccomp.py [OUTPUT]   (default: standard output)
"""
from __future__ import annotations

import json
import sys

# Processes, threads, signals, time and scheduling.
PROCESS = """
arch_prctl alarm capget capset chdir chroot clone clone3 close close_range execve execveat exit exit_group
fchdir fork get_robust_list get_thread_area getcpu getcwd getegid geteuid getgid getgroups getitimer getpgid
getpgrp getpid getppid getpriority getrandom getresgid getresuid getrlimit getrusage getsid gettid
gettimeofday getuid ioprio_get ioprio_set kcmp kill membarrier modify_ldt nanosleep pause personality
pidfd_getfd pidfd_open pidfd_send_signal prctl prlimit64 process_madvise process_mrelease process_vm_readv
process_vm_writev ptrace restart_syscall rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_tgsigqueueinfo sched_get_priority_max sched_get_priority_min
sched_getaffinity sched_getattr sched_getparam sched_getscheduler sched_rr_get_interval sched_setaffinity
sched_setattr sched_setparam sched_setscheduler sched_yield seccomp set_robust_list set_thread_area
set_tid_address setfsgid setfsuid setgid setgroups setitimer setpgid setpriority setregid setresgid setresuid
setreuid setrlimit setsid setuid sigaltstack tgkill time timer_create timer_delete timer_getoverrun
timer_gettime timer_settime times tkill umask uname vfork wait4 waitid
clock_getres clock_gettime clock_nanosleep
"""
# Memory.
MEMORY = """
brk madvise memfd_create mincore mlock mlock2 mlockall mmap mprotect mremap msync munlock munlockall munmap
remap_file_pages get_mempolicy mbind set_mempolicy
"""
# Files, directories, descriptors and extended attributes.
FILES = """
access chmod chown copy_file_range creat dup dup2 dup3 faccessat faccessat2 fadvise64 fallocate fchmod
fchmodat fchown fchownat fcntl fdatasync fgetxattr flistxattr flock fremovexattr fsetxattr fstat fstatfs setxattr fsync
ftruncate futimesat getdents getdents64 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch
lchown lgetxattr link linkat listxattr llistxattr lremovexattr lseek lsetxattr lstat mkdir mkdirat mknod
mknodat newfstatat open openat openat2 pipe pipe2 pread64 preadv preadv2 pwrite64 pwritev
pwritev2 read readahead readlink readlinkat readv removexattr rename renameat renameat2 rmdir sendfile splice
stat statfs statx symlink symlinkat sync sync_file_range syncfs tee truncate unlink unlinkat utime utimensat
utimes vmsplice write writev fanotify_mark
"""
# Waiting for events, and asynchronous I/O (not io_uring).
EVENTS = """
epoll_create epoll_create1 epoll_ctl epoll_pwait epoll_pwait2 epoll_wait eventfd eventfd2 futex futex_waitv
io_cancel io_destroy io_getevents io_pgetevents io_setup io_submit poll ppoll pselect6 select signalfd
signalfd4 timerfd_create timerfd_gettime timerfd_settime
"""
# Sockets and System V / POSIX IPC.
IPC = """
accept accept4 bind connect getpeername getsockname getsockopt listen recvfrom recvmmsg recvmsg sendmmsg
sendmsg sendto setsockopt shutdown socket socketpair
mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedsend mq_unlink msgctl msgget msgrcv msgsnd semctl
semget semop semtimedop shmat shmctl shmdt shmget
"""
# What a Docker engine inside the sandbox needs: mounts (the classic and
# the new mount API), namespaces, hostnames. The kernel checks these
# against the sandbox's own user namespace, never the host's.
CONTAINERS = """
mount umount2 pivot_root fsconfig fsmount fsopen fspick move_mount open_tree mount_setattr
unshare setns sethostname setdomainname
landlock_add_rule landlock_create_ruleset landlock_restrict_self
ioctl sysinfo
"""
# Answered with ENOSYS: runc then goes on without a session keyring.
NO_KEYRINGS = ["keyctl", "add_key", "request_key"]
# For the record (and the tests): refused, as everything not listed is.
REFUSED = """
bpf perf_event_open init_module finit_module delete_module kexec_load kexec_file_load reboot swapon swapoff
acct settimeofday clock_settime clock_adjtime adjtimex iopl ioperm syslog open_by_handle_at lookup_dcookie
quotactl quotactl_fd io_uring_setup io_uring_enter io_uring_register userfaultfd vhangup nfsservctl
uselib ustat sysfs _sysctl pciconfig_read pciconfig_write
"""
EPERM, ENOSYS = 1, 38


def names(block: str) -> list[str]:
    return block.split()


def profile() -> dict:
    allowed = sorted(set(names(PROCESS) + names(MEMORY) + names(FILES) + names(EVENTS) + names(IPC)
                         + names(CONTAINERS)))
    overlap = set(allowed) & (set(names(REFUSED)) | set(NO_KEYRINGS))
    if overlap:
        raise SystemExit(f"seccomp.py: both allowed and refused: {', '.join(sorted(overlap))}")
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": EPERM,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        ],
        "syscalls": [
            {"names": allowed, "action": "SCMP_ACT_ALLOW"},
            {"names": NO_KEYRINGS, "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS},
        ],
    }


def main(argv: list[str]) -> int:
    text = json.dumps(profile(), indent=1) + "\n"
    if len(argv) > 1:
        with open(argv[1], "w") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
