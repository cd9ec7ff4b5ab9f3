#!/bin/bash
# Sandbox init: make the container's own cgroup view usable by the inner
# engine, start dockerd on the per-sandbox volume, load the essential course
# images from the worker's cache (deploy/images/build-cache.sh), mark the
# sandbox ready, then load the other images in the background.
set -u
READY=/run/labdeck-ready
LOADED=/run/labdeck-images-loaded
IMAGES=/opt/labdeck/images
rm -f "$READY" "$LOADED"
# A sandbox started again after its host went down: what the last boot left
# in /run (the inner engine's pid file, sockets and containerd state, the
# shell's exit status) describes processes that are gone.
rm -rf /run/docker /run/docker.pid /run/docker.sock /run/containerd /run/labdeck-shell.status

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
# The inner engine, containerd and the mirror are Go programs that idle most
# of a lesson: a smaller heap target keeps an idle sandbox smaller (measured:
# bench/memory.py) for a little more collection while they work.
export GOGC=50
mkdir -p /var/lib/docker /var/log
# A fixed bridge address: inner containers find the apt repository at
# 172.17.0.1:3142 whatever the sandbox's own network is.
# The worker's registry storage, served read-only as the inner engine's
# Docker Hub mirror: pulls of the course's images never leave the sandbox.
MIRROR_ARGS=""
if [ -d "$IMAGES/registry/docker" ] && command -v docker-registry >/dev/null; then
  docker-registry serve /etc/labdeck-registry.yml >/var/log/labdeck-registry.log 2>&1 &
  MIRROR_ARGS="--registry-mirror=http://127.0.0.1:5000"
fi
dockerd $MIRROR_ARGS --host=unix:///var/run/docker.sock --storage-driver="${LABDECK_INNER_STORAGE_DRIVER:-overlay2}" \
  --bip="${LABDECK_INNER_BIP:-172.17.0.1/16}" ${LABDECK_INNER_DOCKERD_ARGS:-} >/var/log/dockerd.log 2>&1 &
DOCKERD=$!

for _ in $(seq 1 600); do
  docker version >/dev/null 2>&1 && break
  kill -0 "$DOCKERD" 2>/dev/null || { echo "inner dockerd died" >&2; tail -n 20 /var/log/dockerd.log >&2; exit 1; }
  sleep 0.05
done

# The cache's apt repository, for `apt-get install` in the inner containers.
if [ -d "$IMAGES/apt" ] && busybox httpd --help >/dev/null 2>&1; then
  busybox httpd -f -p 3142 -h "$IMAGES/apt" >/dev/null 2>&1 &
fi

# images.txt says which tarballs are essential (loaded before the sandbox is
# ready) and in which order; without it only busybox.tar is essential.
# Tarballs it does not name are loaded last, in the background.
essential=() background=()
if [ -f "$IMAGES/images.txt" ]; then
  while read -r tarball phase _; do
    case "$tarball" in ''|'#'*) continue ;; esac
    [ -s "$IMAGES/$tarball" ] || continue
    if [ "$phase" = essential ]; then essential+=("$tarball"); else background+=("$tarball"); fi
  done < "$IMAGES/images.txt"
fi
for path in "$IMAGES"/*.tar; do
  [ -s "$path" ] || continue
  tarball=${path##*/}
  case " ${essential[*]} ${background[*]} " in *" $tarball "*) continue ;; esac
  if [ ! -f "$IMAGES/images.txt" ] && [ "$tarball" = busybox.tar ]; then
    essential+=("$tarball")
  else
    background+=("$tarball")
  fi
done

load() {
  docker load -q -i "$IMAGES/$1" >/dev/null 2>>/var/log/labdeck-images.log \
    || echo "could not load $1" >> /var/log/labdeck-images.log
}
# With the mirror, the sandbox is ready as soon as its engine answers: the
# essential images load right after (a `docker run busybox` meanwhile pulls
# from the mirror) and the others are pulled when first used. Without it,
# the essential ones load first, the others in the background.
if [ -n "$MIRROR_ARGS" ]; then
  touch "$READY"
  echo labdeck-ready
  for tarball in "${essential[@]}"; do load "$tarball"; done
  touch "$LOADED"
else
  for tarball in "${essential[@]}"; do load "$tarball"; done
  touch "$READY"
  echo labdeck-ready
  (
    for tarball in "${background[@]}"; do load "$tarball"; done
    touch "$LOADED"
  ) &
fi
wait "$DOCKERD"
