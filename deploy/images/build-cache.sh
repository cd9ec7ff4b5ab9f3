#!/usr/bin/env bash
# The worker's image cache: tarballs that every new sandbox loads into its
# inner engine, so nobody waits on Docker Hub. Offline, `busybox` is built
# from Debian's busybox-static.
set -euo pipefail
CACHE=${1:?usage: build-cache.sh CACHE_DIR}
mkdir -p "$CACHE"
if [ ! -s "$CACHE/busybox.tar" ]; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/var/log"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' > "$root/etc/group"
  chmod 1777 "$root/tmp"
  tar -C "$root" -c . | docker import --change 'CMD ["sh"]' - busybox:latest >/dev/null
  docker save busybox:latest -o "$CACHE/busybox.tar.tmp"
  mv "$CACHE/busybox.tar.tmp" "$CACHE/busybox.tar"
  echo "images: cached busybox:latest"
fi
