#!/usr/bin/env bash
# Install and start what Labdeck needs on a Debian 12 machine, as root.
# Idempotent: what is installed or running already is left alone.
#   setup-host.sh          the sandbox engine (deploy/engine/start.sh) and the
#                          image build tools
#   setup-host.sh --production
#                          also what the production layout runs
#                          (deploy/production/): PostgreSQL, Redis, nginx,
#                          supervisor
#   setup-host.sh --test   all of that and Chromium; redis and PostgreSQL
#                          running
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
want=(docker.io iptables debootstrap busybox-static btrfs-progs jq gcc libc6-dev)
layout=(postgresql redis-server nginx supervisor)
case "${1:-}" in
  --production) want+=("${layout[@]}") ;;
  --test) want+=("${layout[@]}" chromium) ;;
esac
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  # A package's own service would start as it installs (nginx's default site
  # on port 80, a redis-server and a supervisord of Debian's): Labdeck runs
  # instances of its own, so none starts here (Debian's policy-rc.d, as in
  # container images, where one may be in place already).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi

"$HERE/engine/start.sh"
if [ "${1:-}" = "--test" ]; then
  "$HERE/production/postgres.sh"   # the production layout's tests make their database in it
fi

if [ "${1:-}" = "--test" ] && ! redis-cli -p "${LABDECK_TEST_REDIS_PORT:-6379}" ping >/dev/null 2>&1; then
  echo "setup: starting redis-server"
  redis-server --port "${LABDECK_TEST_REDIS_PORT:-6379}" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes >/dev/null
  for _ in $(seq 1 50); do redis-cli -p "${LABDECK_TEST_REDIS_PORT:-6379}" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
