#!/bin/bash
# Sandbox init: make the container's own cgroup view usable by the inner
# engine, start dockerd on the per-sandbox volume, preload the course images
# from the worker's cache, then mark the sandbox ready.
set -u
READY=/run/labdeck-ready
rm -f "$READY"

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  # cgroup v2 (private cgroup namespace): move ourselves to a leaf so that
  # controllers can be delegated to the inner engine's cgroups.
  mount -o remount,rw /sys/fs/cgroup 2>/dev/null || true
  mkdir -p /sys/fs/cgroup/init
  xargs -rn1 < /sys/fs/cgroup/cgroup.procs > /sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true
  sed -e 's/ / +/g' -e 's/^/+/' < /sys/fs/cgroup/cgroup.controllers > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
else
  # cgroup v1 (private cgroup namespace): each hierarchy shows only this
  # sandbox's own subtree; make those views writable for the inner engine.
  mount -o remount,rw /sys/fs/cgroup 2>/dev/null || true
  for d in /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$d" 2>/dev/null || true; done
fi

mount -t tmpfs -o mode=1777 tmpfs /tmp 2>/dev/null || true
mkdir -p /var/lib/docker /var/log
dockerd --host=unix:///var/run/docker.sock --storage-driver="${LABDECK_INNER_STORAGE_DRIVER:-overlay2}" \
  ${LABDECK_INNER_DOCKERD_ARGS:-} >/var/log/dockerd.log 2>&1 &
DOCKERD=$!

for _ in $(seq 1 600); do
  docker version >/dev/null 2>&1 && break
  kill -0 "$DOCKERD" 2>/dev/null || { echo "inner dockerd died" >&2; tail -n 20 /var/log/dockerd.log >&2; exit 1; }
  sleep 0.05
done

if [ -d /opt/labdeck/images ]; then
  for tarball in /opt/labdeck/images/*.tar; do
    [ -e "$tarball" ] && docker load -q -i "$tarball" >/dev/null 2>&1
  done
fi
touch "$READY"
wait "$DOCKERD"
