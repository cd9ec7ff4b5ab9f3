#!/usr/bin/env bash
# Install and start what Labdeck needs on a Debian 12 machine, as root.
# Idempotent: what is installed or running already is left alone.
#   setup-host.sh          the sandbox engine (deploy/engine/start.sh) and the
#                          image build tools
#   setup-host.sh --test   also redis-server and Chromium, redis running
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
want=(docker.io iptables debootstrap busybox-static btrfs-progs jq)
[ "${1:-}" = "--test" ] && want+=(redis-server chromium)
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi

"$HERE/engine/start.sh"

if [ "${1:-}" = "--test" ] && ! redis-cli -p "${LABDECK_TEST_REDIS_PORT:-6379}" ping >/dev/null 2>&1; then
  echo "setup: starting redis-server"
  redis-server --port "${LABDECK_TEST_REDIS_PORT:-6379}" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes >/dev/null
  for _ in $(seq 1 50); do redis-cli -p "${LABDECK_TEST_REDIS_PORT:-6379}" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
