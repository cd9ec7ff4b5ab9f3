#!/usr/bin/env bash
# The worker's image cache: tarballs that every new sandbox loads into its
# inner engine, so nobody waits on Docker Hub, and a small apt repository
# that the sandbox serves to its containers. Nothing is pulled: the course's
# images are honest stand-ins built here.
#   busybox.tar  busybox:latest, from Debian's busybox-static
#   ubuntu.tar   ubuntu:latest, ubuntu:24.04: a Debian bookworm minbase root
#                (NOT Ubuntu) whose apt uses the sandbox's repository
#   debian.tar   debian:latest, debian:bookworm: the same image
#   apt/         flat apt repository with figlet and build-essential's
#                dependency closure, served at http://172.17.0.1:3142/
#   alpine.tar   alpine:latest, alpine:3.20: busybox plus Alpine's release files
#   clock.tar    jpetazzo/clock:latest: busybox printing the date every second
#   images.txt   what each tarball holds and when sandboxes load it
# Idempotent: what exists is kept; each item is written to a temporary name
# and renamed, so an interrupted build leaves nothing half-made behind.
# ubuntu.tar, debian.tar and apt/ are one set, rebuilt together when any of
# them is missing, and checked (figlet, gcc) before they replace the old set.
# The build directory is under /var/tmp/labdeck-build, removed at the end.
set -euo pipefail
CACHE=${1:?usage: build-cache.sh CACHE_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO_URL=http://172.17.0.1:3142/
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
exec 9<"$CACHE"
flock 9   # one build at a time per cache: a second one waits, then finds it all

BUILD_BASE=/var/tmp/labdeck-build
mkdir -p "$BUILD_BASE"
WORK=$(mktemp -d "$BUILD_BASE/cache.XXXXXX")
cleanup() {
  rm -rf "$WORK" "$CACHE"/*.tmp "$CACHE/apt.tmp"
  rmdir "$BUILD_BASE" 2>/dev/null || true
}
trap cleanup EXIT

say() { echo "images: $*"; }

# Tarball, load phase and tags, in the order sandboxes load them: essential
# ones before the sandbox is ready, background ones right after.
ITEMS=(
  "busybox.tar essential busybox:latest"
  "ubuntu.tar background ubuntu:latest ubuntu:24.04"
  "clock.tar background jpetazzo/clock:latest"
  "alpine.tar background alpine:latest alpine:3.20"
  "debian.tar background debian:latest debian:${LABDECK_DEBIAN_SUITE:-bookworm}"
)
missing() { [ ! -s "$CACHE/$1" ]; }

# docker save TAGS... into CACHE/TARBALL, through a temporary file.
save() {
  local tarball=$1
  shift
  docker save -o "$CACHE/$tarball.tmp" "$@"
  mv "$CACHE/$tarball.tmp" "$CACHE/$tarball"
  say "cached $tarball ($*)"
}

# Import a root directory as the first tag, then add the other tags.
import_root() {
  local root=$1 first=$2
  shift 2
  local changes=()
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do changes+=(--change "$1"); shift; done
  shift
  tar -C "$root" --numeric-owner -c . | docker import "${changes[@]}" - "$first" >/dev/null
  local tag
  for tag in "$@"; do docker tag "$first" "$tag"; done
}

# A root with busybox (the host's busybox-static) and its applets.
busybox_root() {
  local root=$1 applet
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/var/log"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' > "$root/etc/group"
  chmod 1777 "$root/tmp"
}

if missing busybox.tar; then
  busybox_root "$WORK/busybox"
  import_root "$WORK/busybox" busybox:latest 'CMD ["sh"]' --
  save busybox.tar busybox:latest
fi

if missing alpine.tar; then
  root=$WORK/alpine
  busybox_root "$root"
  echo 3.20.0 > "$root/etc/alpine-release"
  cat > "$root/etc/os-release" <<'EOF'
NAME="Labdeck stand-in for Alpine Linux"
ID=alpine
VERSION_ID=3.20.0
PRETTY_NAME="Labdeck stand-in for Alpine Linux v3.20 (built from BusyBox, not Alpine: no apk, no musl)"
HOME_URL="https://alpinelinux.org/"
EOF
  mkdir -p "$root/sbin"
  cat > "$root/sbin/apk" <<'EOF'
#!/bin/sh
echo "apk: this alpine image is a Labdeck stand-in built from BusyBox; it has no package manager." >&2
echo "apk: use ubuntu (apt-get) to install packages in this workshop." >&2
exit 1
EOF
  chmod 0755 "$root/sbin/apk"
  import_root "$root" alpine:latest 'CMD ["sh"]' \
    'LABEL org.opencontainers.image.description="Labdeck stand-in for alpine:3.20, built from BusyBox"' \
    -- alpine:3.20
  save alpine.tar alpine:latest alpine:3.20
fi

if missing clock.tar; then
  busybox_root "$WORK/clock"
  # The trap makes `docker stop` and Ctrl-C end it at once, even as PID 1.
  import_root "$WORK/clock" jpetazzo/clock:latest \
    "CMD [\"/bin/sh\", \"-c\", \"while date; do trap 'exit 0' INT TERM; sleep 1 & wait \$!; done\"]" \
    'LABEL org.opencontainers.image.description="Labdeck stand-in for jpetazzo/clock, built from BusyBox"' --
  save clock.tar jpetazzo/clock:latest
fi

# --- ubuntu.tar, debian.tar, apt/: one set, from one debootstrap root ---
# The repository is resolved against that very root, so the three are built,
# checked and replaced together when any of them is missing.
if missing ubuntu.tar || missing debian.tar || [ ! -f "$CACHE/apt/Packages" ]; then
  . "$HERE/debian-mirror.sh" || { echo "images: cannot build ubuntu/debian without a Debian mirror" >&2; exit 1; }
  ROOT=$WORK/debian
  say "debootstrap $SUITE minbase from $MIRROR"
  if ! debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    tail -n 20 "$WORK/debootstrap.log" >&2
    tail -n 20 "$ROOT/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    exit 1
  fi

  # The image: lean, and its apt pointed at the sandbox's repository only.
  rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb \
    "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/etc/resolv.conf \
    "$ROOT"/var/cache/debconf/*-old "$ROOT"/var/lib/dpkg/*-old
  find "$ROOT/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$ROOT/usr/share/doc" -mindepth 1 -type d -empty -delete
  find "$ROOT/usr/share/locale" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
  find "$ROOT/var/log" -type f -delete
  rm -f "$ROOT"/etc/apt/sources.list.d/*
  echo "deb [trusted=yes] $REPO_URL ./" > "$ROOT/etc/apt/sources.list"
  cat > "$ROOT/etc/dpkg/dpkg.cfg.d/labdeck-nodoc" <<'CFG'
# Keep images built in the workshop small, like the official slim images.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*/LC_MESSAGES/*.mo
CFG
  cat > "$ROOT/etc/apt/apt.conf.d/docker-clean" <<'CFG'
# As in the official Debian images: no .deb files or caches left in layers.
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
  cat > "$ROOT/etc/labdeck-image" <<CFG
Labdeck offline image: Debian $(cat "$ROOT/etc/debian_version") ($SUITE) minbase, built locally with debootstrap.
It is tagged debian:latest and debian:$SUITE, and ubuntu:latest and ubuntu:24.04
as a stand-in for Ubuntu (it is not Ubuntu). apt installs from the workshop's
repository at $REPO_URL (figlet, build-essential and what they need).
CFG
  import_root "$ROOT" ubuntu:latest 'CMD ["bash"]' \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "LABEL org.opencontainers.image.description=\"Labdeck stand-in: Debian $SUITE minbase (not Ubuntu), see /etc/labdeck-image\"" \
    -- ubuntu:24.04 debian:latest "debian:$SUITE"
  image=$(docker image inspect -f '{{.Id}}' ubuntu:latest)
  docker save -o "$CACHE/ubuntu.tar.tmp" ubuntu:latest ubuntu:24.04
  docker save -o "$CACHE/debian.tar.tmp" debian:latest "debian:$SUITE"

  # The repository: what `apt-get install figlet build-essential` needs on
  # top of that very root, fetched in the chroot from the real mirror
  # (recommends included, as apt in the image will want them).
  echo "deb $MIRROR $SUITE main" > "$ROOT/etc/apt/labdeck-build.list"
  cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
  apt_chroot() {
    DEBIAN_FRONTEND=noninteractive chroot "$ROOT" apt-get -q -y \
      -o Dir::Etc::SourceList=/etc/apt/labdeck-build.list -o Dir::Etc::SourceParts=/nonexistent "$@" \
      >>"$WORK/apt.log" 2>&1 || { tail -n 20 "$WORK/apt.log" >&2; exit 1; }
  }
  say "downloading figlet and build-essential with their dependencies"
  apt_chroot --error-on=any update
  apt_chroot install --download-only figlet build-essential
  repo=$ROOT/var/tmp/repo
  mkdir -p "$repo"
  mv "$ROOT"/var/cache/apt/archives/*.deb "$repo/"
  # Indexed inside the chroot, so the host needs no apt-utils.
  apt_chroot install --no-install-recommends apt-utils
  chroot "$ROOT" sh -ec 'cd /var/tmp/repo
    apt-ftparchive packages . > Packages 2>/dev/null
    gzip -9n < Packages > Packages.gz
    apt-ftparchive release . > ../Release
    mv ../Release Release'
  chmod 0644 "$repo"/*
  chmod 0755 "$repo"

  if [ "${LABDECK_IMAGES_VERIFY:-True}" = "True" ]; then
    # The new image, with this repository and no network, must install
    # figlet and build-essential and compile a C program.
    say "checking that the new ubuntu:24.04 installs figlet and build-essential from it"
    if ! docker run --rm --network none -v "$repo:/repo:ro" "$image" sh -ec '
        echo "deb [trusted=yes] file:/repo ./" > /etc/apt/sources.list
        apt-get -q update
        DEBIAN_FRONTEND=noninteractive apt-get -q install -y figlet build-essential
        figlet ok
        printf "#include <stdio.h>\nint main(void) { puts(\"hello from gcc\"); return 0; }\n" > /tmp/hello.c
        gcc -o /tmp/hello /tmp/hello.c
        /tmp/hello' >"$WORK/verify.log" 2>&1; then
      tail -n 30 "$WORK/verify.log" >&2
      echo "images: the stand-in ubuntu image cannot install figlet and build-essential from the repository" >&2
      rm -f "$CACHE/ubuntu.tar.tmp" "$CACHE/debian.tar.tmp"
      exit 1
    fi
  fi
  rm -rf "$CACHE/apt.tmp"
  cp -a "$repo" "$CACHE/apt.tmp"
  mv "$CACHE/ubuntu.tar.tmp" "$CACHE/ubuntu.tar"
  mv "$CACHE/debian.tar.tmp" "$CACHE/debian.tar"
  rm -rf "$CACHE/apt"
  mv "$CACHE/apt.tmp" "$CACHE/apt"
  say "cached ubuntu.tar (ubuntu:latest ubuntu:24.04) and debian.tar (debian:latest debian:$SUITE), $(du -h "$CACHE/ubuntu.tar" | cut -f1) each"
  say "cached apt/ ($(ls "$CACHE/apt" | grep -c '\.deb$') packages, $(du -sh "$CACHE/apt" | cut -f1))"
fi

# The manifest, rewritten on every run from what is there.
{
  echo "# Labdeck image cache. TARBALL PHASE TAG...: sandboxes load the essential"
  echo "# tarballs before they are ready, the background ones right after, in this order."
  for item in "${ITEMS[@]}"; do
    set -- $item
    if [ -s "$CACHE/$1" ]; then echo "$item"; fi
  done
  if [ -f "$CACHE/apt/Packages" ]; then
    echo "# apt/: flat apt repository, served in each sandbox at $REPO_URL"
  fi
} > "$CACHE/images.txt.tmp"
mv "$CACHE/images.txt.tmp" "$CACHE/images.txt"
