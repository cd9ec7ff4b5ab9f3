#!/usr/bin/env bash
# Start the sandbox engine of this host, or leave it running: a Docker engine
# of its own, dedicated to sandboxes, beside any other engine of the host.
#
#   user namespaces    root in a sandbox is uid 100000 on the host (dockremap)
#   storage            btrfs, so that each sandbox gets a disk quota of its own
#                      (--storage-opt size; simple quotas: what a sandbox
#                      writes counts); the data root is a btrfs
#                      filesystem, or a sparse loop image made here
#   runtime            labdeck-runc: runc plus the cgroup delegation
#   seccomp            deploy/engine/seccomp.py, for every container
#   cgroups            under /labdeck, which caps all sandboxes together:
#                      memory (all but LABDECK_HOST_RESERVE of the host) and a
#                      lower CPU weight than the host's own processes
#   network            no iptables of its own (deploy/engine/firewall.sh is
#                      the only firewall of its bridges), and a default bridge
#                      of its own, so that it never touches docker0
#   live-restore       sandboxes keep running while the engine restarts
#   logs               a sandbox's own output is capped (1 MiB, 2 files)
#   remote             with LABDECK_ENGINE_TLS_LISTEN (e.g. 0.0.0.0:2376) it
#                      also listens there, mutual TLS only, with the
#                      certificates of LABDECK_ENGINE_TLS_DIR (deploy/engine/certs.sh)
# Idempotent; a changed configuration restarts the engine (sandboxes keep
# running). Environment: see the defaults below.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=${LABDECK_ENGINE_ROOT:-/var/lib/labdeck/engine}
SOCKET=${LABDECK_ENGINE_SOCKET:-/run/labdeck/engine.sock}
RUN=${LABDECK_ENGINE_RUN:-/run/labdeck}
SIZE=${LABDECK_ENGINE_SIZE:-auto}
RESERVE=${LABDECK_HOST_RESERVE:-2048}   # MiB of memory no sandbox may take
CGROUP=${LABDECK_ENGINE_CGROUP:-labdeck}  # the parent of every sandbox's cgroup
TLS_LISTEN=${LABDECK_ENGINE_TLS_LISTEN:-}
TLS_DIR=${LABDECK_ENGINE_TLS_DIR:-/etc/labdeck/engine-tls}
PREFIX=${LABDECK_BRIDGE_PREFIX:-ldk}
DEFAULT_BRIDGE=${LABDECK_ENGINE_BRIDGE:-${PREFIX}-default}
DEFAULT_BRIDGE_IP=${LABDECK_ENGINE_BRIDGE_IP:-10.212.0.1/24}
LIBEXEC=/usr/local/libexec/labdeck
CONF=${LABDECK_ENGINE_CONF:-/etc/labdeck}
LOG=${LABDECK_ENGINE_LOG:-/var/log/labdeck-engine.log}
say() { echo "engine: $*"; }

mkdir -p "$LIBEXEC" "$CONF" "$RUN" "$(dirname "$ROOT")"
install -m 0755 "$HERE/labdeck-runc" "$LIBEXEC/labdeck-runc"
python3 "$HERE/seccomp.py" "$CONF/seccomp.json.new" && mv "$CONF/seccomp.json.new" "$CONF/seccomp.json"

# The data root: btrfs, for per-sandbox quotas.
mkdir -p "$ROOT"
if [ "$(stat -f -c %T "$ROOT")" != btrfs ]; then
  image=$ROOT.img
  if [ ! -f "$image" ]; then
    if [ "$SIZE" = auto ]; then
      free=$(df --output=avail -B1 "$(dirname "$ROOT")" | tail -n 1)
      SIZE=$(( free * 8 / 10 ))   # leave the host a fifth of what is free now
    fi
    say "making a btrfs data root of $(( SIZE / 1024 / 1024 / 1024 )) GiB (sparse) in $image"
    truncate -s "$SIZE" "$image.tmp"
    mkfs.btrfs -q -f "$image.tmp" >/dev/null
    mv "$image.tmp" "$image"
  fi
  # Freed space goes back to the host's disk in batches (discard=async):
  # a discard for every freed extent, as plain `discard` does, made removing
  # sandboxes slower.
  mount -o loop,discard=async "$image" "$ROOT"
elif grep -qE " $ROOT btrfs [^ ]*discard(,|\s)" /proc/mounts && ! grep -qE " $ROOT btrfs [^ ]*discard=async" /proc/mounts; then
  mount -o remount,discard=async "$ROOT"
fi
# The loop device writes to its image with direct I/O: otherwise each block
# a sandbox writes is cached twice (btrfs's page, then the image file's) and
# written back by the host's own threads, outside every sandbox's CPU share;
# a disk filler then delayed its neighbours' keystrokes (bench/noisy.py).
if [ -f "$ROOT.img" ]; then
  for dev in $(losetup -j "$ROOT.img" -n -O NAME); do
    losetup --direct-io=on "$dev" 2>/dev/null || say "$dev: no direct I/O on this filesystem; left as it is"
  done
fi
# Simple quotas (deploy/engine/squota.py says why not full qgroups).
quotas=$(python3 "$HERE/squota.py" "$ROOT")
say "disk quotas: $quotas"

# A default bridge of its own: with --bridge=none dockerd would delete docker0.
if ! ip link show "$DEFAULT_BRIDGE" >/dev/null 2>&1; then
  ip link add "$DEFAULT_BRIDGE" type bridge
  ip addr add "$DEFAULT_BRIDGE_IP" dev "$DEFAULT_BRIDGE"
fi
ip link set "$DEFAULT_BRIDGE" up

# Host-wide limits sized for hundreds of sandboxes. Every sandbox has the
# same host uid, so per-user limits (inotify) count all of them together;
# PIDs are host-wide, so 32 fork bombs at 1024 would exhaust the default.
# The kernel keys too: runc gives every sandbox and every exec into one a
# session keyring owned by that uid, and 200 keys (the default for a
# non-root uid) run out at about 20 sandboxes ("unable to create session key:
# disk quota exceeded"). Learners cannot make keys themselves (seccomp).
sysctl -qw fs.inotify.max_user_instances=8192 fs.inotify.max_user_watches=1048576 kernel.pid_max=4194304 \
  kernel.threads-max=4194304 kernel.keys.maxkeys=100000 kernel.keys.maxbytes=10000000 2>/dev/null \
  || say "warning: could not raise the host's inotify, PID and key limits"

# The parent of every sandbox's cgroup: together they leave the host room.
mem_total=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) * 1024 ))
mem_cap=$(( mem_total - RESERVE * 1024 * 1024 ))
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  mkdir -p "/sys/fs/cgroup/$CGROUP"
  echo "$mem_cap" > "/sys/fs/cgroup/$CGROUP/memory.max" 2>/dev/null || true
  echo 25 > "/sys/fs/cgroup/$CGROUP/cpu.weight" 2>/dev/null || true
  echo $(( $(cat /proc/sys/kernel/pid_max) / 2 )) > "/sys/fs/cgroup/$CGROUP/pids.max" 2>/dev/null || true
else
  mkdir -p "/sys/fs/cgroup/memory/$CGROUP" "/sys/fs/cgroup/cpu/$CGROUP" "/sys/fs/cgroup/pids/$CGROUP"
  echo "$mem_cap" > "/sys/fs/cgroup/memory/$CGROUP/memory.limit_in_bytes"
  echo 256 > "/sys/fs/cgroup/cpu/$CGROUP/cpu.shares"
  # All sandboxes together keep half of the host's PIDs for the host.
  echo $(( $(cat /proc/sys/kernel/pid_max) / 2 )) > "/sys/fs/cgroup/pids/$CGROUP/pids.max"
fi

"$HERE/firewall.sh"

hosts="\"unix://$SOCKET\""
tls=""
if [ -n "$TLS_LISTEN" ]; then
  for file in ca.pem cert.pem key.pem; do
    [ -f "$TLS_DIR/$file" ] || { echo "engine: $TLS_DIR/$file is missing (deploy/engine/certs.sh)" >&2; exit 1; }
  done
  hosts+=", \"tcp://$TLS_LISTEN\""
  tls="\"tls\": true, \"tlsverify\": true, \"tlscacert\": \"$TLS_DIR/ca.pem\",
  \"tlscert\": \"$TLS_DIR/cert.pem\", \"tlskey\": \"$TLS_DIR/key.pem\","
fi
cat > "$CONF/engine.json.new" <<JSON
{
  "data-root": "$ROOT",
  "exec-root": "$RUN/engine",
  "pidfile": "$RUN/engine.pid",
  "hosts": [$hosts], $tls
  "userns-remap": "default",
  "storage-driver": "btrfs",
  "iptables": false,
  "ip-masq": false,
  "bridge": "$DEFAULT_BRIDGE",
  "live-restore": true,
  "cgroup-parent": "/$CGROUP",
  "default-runtime": "labdeck",
  "runtimes": {"labdeck": {"path": "$LIBEXEC/labdeck-runc"}},
  "seccomp-profile": "$CONF/seccomp.json",
  "log-driver": "json-file",
  "log-opts": {"max-size": "1m", "max-file": "2"}
}
JSON
answers() { DOCKER_HOST=unix://$SOCKET docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
if answers && cmp -s "$CONF/engine.json.new" "$CONF/engine.json"; then
  rm -f "$CONF/engine.json.new"
  exit 0
fi
mv "$CONF/engine.json.new" "$CONF/engine.json"
if [ -f "$RUN/engine.pid" ] && kill -0 "$(cat "$RUN/engine.pid")" 2>/dev/null; then
  say "configuration changed: restarting (sandboxes keep running)"
  kill "$(cat "$RUN/engine.pid")"
  for _ in $(seq 1 100); do kill -0 "$(cat "$RUN/engine.pid" 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done
fi
dockerd_bin=$(PATH="$PATH:/usr/sbin:/usr/bin" command -v dockerd) || { echo "engine: dockerd not found (Debian's docker.io)" >&2; exit 1; }
say "starting the sandbox engine on $SOCKET (log: $LOG)"
setsid nohup "$dockerd_bin" --config-file "$CONF/engine.json" >>"$LOG" 2>&1 </dev/null &
for _ in $(seq 1 200); do answers && exit 0; sleep 0.1; done
echo "engine: the sandbox engine did not start; the end of $LOG:" >&2
tail -n 20 "$LOG" >&2
exit 1
