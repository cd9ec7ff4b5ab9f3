#!/usr/bin/env bash
# Build the sandbox image without pulling anything: debootstrap a Debian root
# with docker.io and the course's tools, then `docker import` it. Uses the
# same Debian mirror as the host's apt sources (deploy/images/debian-mirror.sh),
# so it works wherever apt does. busybox-static serves the image cache's apt
# repository to the inner containers (entrypoint.sh).
set -euo pipefail
TAG=${1:?usage: build-offline.sh IMAGE_TAG}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../images/debian-mirror.sh" || { echo "build-offline: cannot build without a Debian mirror" >&2; exit 1; }
PACKAGES=docker.io,iptables,bash,bash-completion,iproute2,iputils-ping,procps,psmisc,curl,ca-certificates,nano,vim-tiny,less,util-linux,tini,jq,kmod,e2fsprogs,xz-utils,pigz,busybox-static,docker-registry,socat,tmux
ROOT=$(mktemp -d /var/tmp/labdeck-rootfs.XXXXXX)
# mktemp makes it 0700, and the image's / would be too: no one but root could use it.
chmod 0755 "$ROOT"
trap 'rm -rf "$ROOT"' EXIT
echo "build-offline: debootstrap $SUITE from the apt mirror into $ROOT"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT" "$MIRROR" >/dev/null
chroot "$ROOT" update-alternatives --set iptables /usr/sbin/iptables-legacy >/dev/null
chroot "$ROOT" update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >/dev/null
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/* "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/*
install -m 0755 "$HERE/entrypoint.sh" "$ROOT/usr/local/bin/labdeck-sandbox"
install -m 0644 "$HERE/bashrc" "$ROOT/etc/labdeck.bashrc"
install -m 0644 "$HERE/registry.yml" "$ROOT/etc/labdeck-registry.yml"
# The shell's holder, built here with the host's compiler (static: it does
# not depend on the host's C library matching the image's).
gcc -O2 -Wall -static -o "$ROOT/usr/local/bin/labdeck-term" "$HERE/labdeck-term.c"
echo '[ -f /etc/labdeck.bashrc ] && . /etc/labdeck.bashrc' >> "$ROOT/etc/bash.bashrc"
echo labdeck > "$ROOT/etc/hostname"
tar -C "$ROOT" -c . | docker import \
  --change 'ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/labdeck-sandbox"]' \
  --change 'ENV LANG=C.UTF-8 TERM=xterm-256color' \
  --change 'WORKDIR /root' \
  --change 'LABEL org.labdeck.role=sandbox-image' \
  - "$TAG" >/dev/null
echo "build-offline: built $TAG"
