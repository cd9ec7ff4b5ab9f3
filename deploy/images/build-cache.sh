#!/usr/bin/env bash
# The worker's image cache: tarballs that every new sandbox loads into its
# inner engine, so nobody waits on Docker Hub, and a small apt repository
# that the sandbox serves to its containers. Nothing is pulled: the course's
# images are built here, from Debian's packages or from BusyBox, and each
# says what it is (its description label and /etc/labdeck-image).
#   busybox.tar  busybox:latest, from Debian's busybox-static
#   ubuntu.tar   ubuntu:latest, ubuntu:24.04: a Debian bookworm minbase root
#                (NOT Ubuntu) whose apt uses the sandbox's repository
#   debian.tar   debian:latest, debian:bookworm: the same image
#   apt/         flat apt repository with figlet and build-essential's
#                dependency closure, served at http://172.17.0.1:3142/
#   alpine.tar   alpine:latest, alpine:3.20: busybox plus Alpine's release files
#   clock.tar    jpetazzo/clock:latest: busybox printing the date every second
#   nginx.tar    nginx:latest, nginx:1.22: the ubuntu.tar root plus Debian's
#                nginx (1.22.1), in the foreground, its logs on the container's
#                output, the default site in /usr/share/nginx/html
#   tomcat.tar   tomcat:latest, tomcat:10, tomcat:10.1: the ubuntu.tar root
#                plus Debian's tomcat10 (10.1) and openjdk-17-jre-headless,
#                laid out in /usr/local/tomcat, webapps/ empty, volumes for
#                webapps/ and logs/
#   redis.tar    redis:latest, redis:7, redis:7.0: the ubuntu.tar root plus
#                Debian bookworm's redis-server (7.0); redis:6, redis:6.0: a
#                Debian bullseye root plus bullseye's redis-server (6.0).
#                Data in the /data volume, protected mode off (see below)
#   crashtest.tar  jpetazzo/crashtest:latest: logs why it fails, then exits 1
#   python.tar   python:latest, python:3, python:3.11: the ubuntu.tar root
#                (Debian bookworm) plus Debian's python3
#   images.txt   what each tarball holds and when sandboxes load it
# Idempotent: what exists is kept; each item is written to a temporary name
# and renamed, so an interrupted build leaves nothing half-made behind.
# ubuntu.tar, debian.tar and apt/ are one set, rebuilt together when any of
# them is missing, and checked (figlet, gcc) before they replace the old set.
# Every other image is checked too, without network, before it is saved.
# The build directory is under /var/tmp/labdeck-build, removed at the end.
set -euo pipefail
CACHE=${1:?usage: build-cache.sh CACHE_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO_URL=http://172.17.0.1:3142/
# redis:6 comes from the Debian release whose redis-server is 6.x.
REDIS6_SUITE=${LABDECK_REDIS6_SUITE:-bullseye}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
# Readable by everyone: a sandbox engine in a user namespace loads these
# files as an unprivileged user.
chmod 0755 "$CACHE"
exec 9<"$CACHE"
flock 9   # one build at a time per cache: a second one waits, then finds it all

BUILD_BASE=/var/tmp/labdeck-build
mkdir -p "$BUILD_BASE"
WORK=$(mktemp -d "$BUILD_BASE/cache.XXXXXX")
# Containers of the checks (and their volumes), removed even when a check fails.
SCRATCH_CONTAINERS=()
# scratch_run DOCKER-RUN-ARGS...: docker run -d; CID is the container,
# removed by scratch_clean or at the end.
scratch_run() {
  CID=$(docker run -d --label labdeck-build=check "$@")
  SCRATCH_CONTAINERS+=("$CID")
}
scratch_clean() {
  local i
  # Newest first: a container's volumes go once nobody uses them (--volumes-from).
  for ((i = ${#SCRATCH_CONTAINERS[@]} - 1; i >= 0; i--)); do
    docker rm -f -v "${SCRATCH_CONTAINERS[i]}" >/dev/null 2>&1 || true
  done
  SCRATCH_CONTAINERS=()
}
cleanup() {
  scratch_clean
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
  "nginx.tar background nginx:latest nginx:1.22"
  "tomcat.tar background tomcat:latest tomcat:10 tomcat:10.1"
  "redis.tar background redis:latest redis:7 redis:7.0 redis:6 redis:6.0"
  "crashtest.tar background jpetazzo/crashtest:latest"
  "python.tar background python:latest python:3 python:3.11"
)
# manifest TARBALL: the manifest.json that docker save wrote into it.
manifest() { tar -xOf "$CACHE/$1" manifest.json 2>/dev/null || true; }
# tags_in TARBALL: the tags it holds; tags_for TARBALL: those it should hold
# (sorted, on one line).
tags_in() {
  manifest "$1" | grep -o '"RepoTags":\[[^]]*\]' | sed 's/^"RepoTags":\[//; s/\]$//' | tr ',' '\n' | tr -d '"' | sort | xargs
}
tags_for() {
  local tarball=$1 item
  for item in "${ITEMS[@]}"; do
    set -- $item
    if [ "$1" = "$tarball" ]; then
      shift 2
      printf '%s\n' "$@"
    fi
  done | sort | xargs
}
# missing TARBALL: it is not there, or it is from an older recipe that
# tagged other versions (the hand-written nginx:1.27, say): build it.
missing() {
  [ -s "$CACHE/$1" ] || return 0
  local have want
  have=$(tags_in "$1")
  want=$(tags_for "$1")
  [ "$have" = "$want" ] && return 1
  say "$1 holds $have, not $want: building it again"
  return 0
}

# docker save TAGS... into CACHE/TARBALL, through a temporary file.
save() {
  local tarball=$1
  shift
  docker save -o "$CACHE/$tarball.tmp" "$@"
  chmod 0644 "$CACHE/$tarball.tmp"
  mv "$CACHE/$tarball.tmp" "$CACHE/$tarball"
  say "cached $tarball ($*), $(du -h "$CACHE/$tarball" | cut -f1)"
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
# standin_os_release ROOT ID PRETTY_NAME: an honest /etc/os-release.
standin_os_release() {
  rm -f "$1/etc/os-release"
  cat > "$1/etc/os-release" <<EOF
NAME="Labdeck stand-in"
ID=$2
PRETTY_NAME="$3"
HOME_URL="https://github.com/labdeck"
EOF
}

# --- Debian roots, and Debian's packages installed into them ---
# SUITE and MIRROR (debian-mirror.sh), read once.
need_mirror() {
  [ -n "${MIRROR:-}" ] && return 0
  . "$HERE/debian-mirror.sh" || { echo "images: cannot build the Debian-based images without a Debian mirror" >&2; exit 1; }
}
# in_root ROOT COMMAND...: COMMAND chrooted in ROOT, with a /proc of its own
# (a private mount namespace: nothing stays mounted when it ends).
in_root() {
  local root=$1
  shift
  unshare --mount --pid --fork --mount-proc="$root/proc" chroot "$root" "$@"
}
# root_apt ROOT SUITE APT-GET-ARGS...: apt-get in ROOT, from MIRROR's SUITE only.
root_apt() {
  local root=$1 suite=$2
  shift 2
  echo "deb $MIRROR $suite main" > "$root/etc/apt/labdeck-build.list"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  DEBIAN_FRONTEND=noninteractive LC_ALL=C in_root "$root" apt-get -q -y \
    -o Dir::Etc::SourceList=/etc/apt/labdeck-build.list -o Dir::Etc::SourceParts=/nonexistent "$@" \
    >>"$WORK/apt.log" 2>&1 || { tail -n 20 "$WORK/apt.log" >&2; exit 1; }
}
# slim_root ROOT: what an image needs no copy of (apt's lists and caches,
# manuals, translations, logs, documentation but its licences), gone.
slim_root() {
  local root=$1
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root/etc/resolv.conf" "$root/etc/apt/labdeck-build.list" \
    "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
  find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
  find "$root/var/log" -type f -delete
}
# debootstrap_root ROOT SUITE: a slim Debian SUITE minbase root whose dpkg
# and apt keep it slim (as the official slim images do).
debootstrap_root() {
  local root=$1 suite=$2
  say "debootstrap $suite minbase from $MIRROR"
  if ! debootstrap --variant=minbase "$suite" "$root" "$MIRROR" >"$WORK/debootstrap-$suite.log" 2>&1; then
    tail -n 20 "$WORK/debootstrap-$suite.log" >&2
    tail -n 20 "$root/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    exit 1
  fi
  slim_root "$root"
  cat > "$root/etc/dpkg/dpkg.cfg.d/labdeck-nodoc" <<'CFG'
# Keep images built in the workshop small, like the official slim images.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*/LC_MESSAGES/*.mo
CFG
  cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
# As in the official Debian images: no .deb files or caches left in layers.
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
}
# debian_root ROOT SUITE: the root of an image built from Debian's packages
# (after need_mirror).
# For SUITE (bookworm) it is the very root of ubuntu.tar / debian.tar, its
# one layer unpacked; for another release, a fresh debootstrap of it.
debian_root() {
  local root=$1 suite=$2 layer
  mkdir -p "$root"
  if [ "$suite" = "$SUITE" ]; then
    layer=$(manifest ubuntu.tar | grep -o '"Layers":\["[^"]*"\]' | cut -d'"' -f4)
    [ -n "$layer" ] || check_fail "cannot find the layer of ubuntu.tar"
    tar -xOf "$CACHE/ubuntu.tar" "$layer" | tar -C "$root" --numeric-owner -xpf -
  else
    debootstrap_root "$root" "$suite"
  fi
}
# apt_install ROOT SUITE PACKAGE...: Debian's PACKAGEs (no recommends) from
# MIRROR's SUITE into ROOT, then ROOT slimmed again. Their services are not
# started (policy-rc.d), so nothing runs on the build machine.
apt_install() {
  local root=$1 suite=$2
  shift 2
  say "installing $* from $MIRROR $suite"
  printf '#!/bin/sh\n# No service starts while the image is built.\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
  # Java's package links its manual pages there, and fails without it.
  mkdir -p "$root/usr/share/man/man1"
  root_apt "$root" "$suite" --error-on=any update
  root_apt "$root" "$suite" install --no-install-recommends "$@"
  rm -f "$root/usr/sbin/policy-rc.d"
  slim_root "$root"
}
# package_version ROOT PACKAGE: its Debian version (5:7.0.15-1~deb12u7);
# upstream VERSION: what upstream calls it (7.0.15).
package_version() { chroot "$1" dpkg-query -W -f='${Version}' "$2"; }
upstream() {
  local v=${1#*:}
  echo "${v%%-*}"
}
# tag_fits VERSION TAG...: warn when a tag does not name the version built.
tag_fits() {
  local version=$1 tag
  shift
  for tag in "$@"; do
    case "${tag#*:}" in
      latest) ;;
      *) case "$version" in "${tag#*:}" | "${tag#*:}".*) ;; *) say "warning: $tag holds version $version" ;; esac ;;
    esac
  done
}

# Smoke tests of the new images on the build machine (no network).
verify() { [ "${LABDECK_IMAGES_VERIFY:-True}" = "True" ]; }
check_fail() {
  echo "images: $*" >&2
  exit 1
}
# http_get CONTAINER PORT: the raw HTTP response to GET / on the container's
# PORT, from a busybox container in its network namespace (which, with
# --network none, has nothing but loopback). Waits up to a minute for it.
http_get() {
  docker image inspect busybox:latest >/dev/null 2>&1 || docker load -q -i "$CACHE/busybox.tar" >/dev/null
  docker run --rm --network "container:$1" busybox sh -c '
    for i in $(seq 1 240); do
      printf "GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: labdeck-check\r\nConnection: close\r\n\r\n" \
        | nc 127.0.0.1 '"$2"' > /tmp/response 2>/dev/null
      if [ -s /tmp/response ]; then cat /tmp/response; exit 0; fi
      sleep 0.25
    done
    exit 1'
}
# check_serves IMAGE PORT STATUS TEXT LOG: run it without network, GET / on
# PORT; the response must have STATUS and TEXT, and `docker logs` LOG.
check_serves() {
  local image=$1 port=$2 status=$3 text=$4 log=$5 cid out logs
  scratch_run --network none "$image"
  cid=$CID
  out=$(http_get "$cid" "$port") || check_fail "$image does not answer on port $port: $(docker logs "$cid" 2>&1 | tail -n 20)"
  sleep 0.5
  logs=$(docker logs "$cid" 2>&1)
  case "$out" in "HTTP/1.1 $status "*) ;; *) check_fail "$image answers \"$(echo "$out" | head -n 1)\", not $status" ;; esac
  case "$out" in *"$text"*) ;; *) check_fail "$image does not answer \"$text\" on port $port: $out" ;; esac
  case "$logs" in *"$log"*) ;; *) check_fail "$image does not log \"$log\": $logs" ;; esac
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
  need_mirror
  ROOT=$WORK/debian
  debootstrap_root "$ROOT" "$SUITE"

  # The image: lean, and its apt pointed at the sandbox's repository only.
  rm -f "$ROOT"/etc/apt/sources.list.d/*
  echo "deb [trusted=yes] $REPO_URL ./" > "$ROOT/etc/apt/sources.list"
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
  chmod 0644 "$CACHE/ubuntu.tar.tmp" "$CACHE/debian.tar.tmp"

  # The repository: what `apt-get install figlet build-essential` needs on
  # top of that very root, fetched in the chroot from the real mirror
  # (recommends included, as apt in the image will want them).
  say "downloading figlet and build-essential with their dependencies"
  root_apt "$ROOT" "$SUITE" --error-on=any update
  root_apt "$ROOT" "$SUITE" install --download-only figlet build-essential
  repo=$ROOT/var/tmp/repo
  mkdir -p "$repo"
  mv "$ROOT"/var/cache/apt/archives/*.deb "$repo/"
  # Indexed inside the chroot, so the host needs no apt-utils.
  root_apt "$ROOT" "$SUITE" install --no-install-recommends apt-utils
  chroot "$ROOT" sh -ec 'cd /var/tmp/repo
    apt-ftparchive packages . > Packages 2>/dev/null
    gzip -9n < Packages > Packages.gz
    apt-ftparchive release . > ../Release
    mv ../Release Release'
  chmod 0644 "$repo"/*
  chmod 0755 "$repo"

  if verify; then
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

# --- nginx, tomcat, redis: Debian's packages on Debian roots ---
# labdeck_image ROOT TEXT: /etc/labdeck-image, what the image is.
labdeck_image() {
  printf '%s\n' "$2" | fold -s -w 76 | sed 's/ *$//' > "$1/etc/labdeck-image"
}

if missing nginx.tar; then
  need_mirror
  root=$WORK/nginx
  debian_root "$root" "$SUITE"
  apt_install "$root" "$SUITE" nginx
  package=$(package_version "$root" nginx)
  version=$(upstream "$package")
  tag_fits "$version" nginx:1.22
  # As in Docker Hub's image: the default site in /usr/share/nginx/html
  # (Debian's nginx-common puts nginx's welcome page there), the logs on
  # the container's output. The rest is Debian's configuration.
  sed -i 's|^\(\s*root\) /var/www/html;|\1 /usr/share/nginx/html;|' "$root/etc/nginx/sites-available/default"
  grep -q 'root /usr/share/nginx/html;' "$root/etc/nginx/sites-available/default" \
    || check_fail "cannot find the web root in Debian's /etc/nginx/sites-available/default"
  # A kernel without IPv6 refuses [::]:80; Docker Hub's image listens there only when it can.
  if [ ! -e /proc/net/if_inet6 ]; then
    sed -i '/listen \[::\]:80/d' "$root/etc/nginx/sites-available/default"
  fi
  ln -sfn /dev/stdout "$root/var/log/nginx/access.log"
  ln -sfn /dev/stderr "$root/var/log/nginx/error.log"
  labdeck_image "$root" "Labdeck offline image, tagged nginx:latest and nginx:1.22: \
not Docker Hub's nginx image but Debian's nginx package $package (nginx $version) \
on the root of the workshop's debian image (Debian $(cat "$root/etc/debian_version"), $SUITE). \
Its configuration is Debian's (/etc/nginx/nginx.conf, /etc/nginx/sites-enabled/default), \
with two changes made for containers as Docker Hub's image does: the default site \
serves /usr/share/nginx/html, and /var/log/nginx/access.log and error.log lead to \
the container's standard output and error. \`nginx -g 'daemon off;'\` keeps it in the foreground."
  import_root "$root" nginx:latest 'CMD ["nginx", "-g", "daemon off;"]' 'EXPOSE 80/tcp' \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' "ENV NGINX_VERSION=$version" \
    "LABEL org.opencontainers.image.description=\"Built by Labdeck from Debian $SUITE's nginx package $package, see /etc/labdeck-image\"" \
    "LABEL org.opencontainers.image.version=$version" \
    -- nginx:1.22
  if verify; then
    check_serves nginx:latest 80 200 "<title>Welcome to nginx!</title>" '"GET / HTTP/1.1" 200 '
    out=$(docker exec "$CID" nginx -v 2>&1) || true
    case "$out" in *"nginx/$version") ;; *) check_fail "nginx:latest is not nginx $version: $out" ;; esac
    scratch_clean
  fi
  save nginx.tar nginx:latest nginx:1.22
fi

if missing tomcat.tar; then
  need_mirror
  root=$WORK/tomcat
  debian_root "$root" "$SUITE"
  # Debian's tomcat10 creates its user and directories with systemd's
  # sysusers and tmpfiles: their standalone builds, not all of systemd.
  apt_install "$root" "$SUITE" tomcat10 openjdk-17-jre-headless systemd-standalone-sysusers systemd-standalone-tmpfiles
  package=$(package_version "$root" tomcat10)
  version=$(upstream "$package")
  tag_fits "$version" tomcat:10 tomcat:10.1
  java_home=$(dirname "$(dirname "$(chroot "$root" readlink -f /usr/bin/java)")")
  [ -x "$root$java_home/bin/java" ] || check_fail "cannot find Java in the tomcat root"
  # Docker Hub's layout: CATALINA_HOME=/usr/local/tomcat, and an empty
  # webapps/ (the default application waits in webapps.dist/). Debian's
  # programs, libraries and configuration, linked there.
  home=$root/usr/local/tomcat
  mkdir -p "$home/logs" "$home/temp" "$home/work" "$home/webapps" "$home/webapps.dist"
  chmod 1777 "$home/logs" "$home/temp" "$home/work"
  ln -s /usr/share/tomcat10/bin "$home/bin"
  ln -s /usr/share/tomcat10/lib "$home/lib"
  ln -s /etc/tomcat10 "$home/conf"
  cp -a "$root/var/lib/tomcat10/webapps/ROOT" "$home/webapps.dist/ROOT"
  # The console log in Tomcat's own one-line format rather than journald's.
  sed -i 's/^\(java.util.logging.ConsoleHandler.formatter\) = org.apache.juli.SystemdFormatter$/\1 = org.apache.juli.OneLineFormatter/' \
    "$root/etc/tomcat10/logging.properties"
  labdeck_image "$root" "Labdeck offline image, tagged tomcat:latest, tomcat:10 and tomcat:10.1: \
not Docker Hub's tomcat image but Debian's tomcat10 package $package (Apache Tomcat $version) \
with Debian's openjdk-17-jre-headless $(package_version "$root" openjdk-17-jre-headless), \
on the root of the workshop's debian image (Debian $(cat "$root/etc/debian_version"), $SUITE). \
As in Docker Hub's image, CATALINA_HOME is /usr/local/tomcat and \`catalina.sh run\` \
starts Tomcat in the foreground on port 8080; webapps/ is empty, so / answers 404 \
until an application is deployed there (Debian's default one is in webapps.dist/). \
/usr/local/tomcat/bin, lib and conf are Debian's /usr/share/tomcat10/bin, \
/usr/share/tomcat10/lib and /etc/tomcat10; logs, webapps, temp and work are \
directories of the image, and logs and webapps are volumes."
  import_root "$root" tomcat:latest 'CMD ["catalina.sh", "run"]' 'EXPOSE 8080/tcp' \
    'ENV PATH=/usr/local/tomcat/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'ENV CATALINA_HOME=/usr/local/tomcat' "ENV JAVA_HOME=$java_home" 'ENV LANG=C.UTF-8' \
    'ENV TOMCAT_MAJOR=10' "ENV TOMCAT_VERSION=$version" 'WORKDIR /usr/local/tomcat' \
    'VOLUME ["/usr/local/tomcat/webapps"]' 'VOLUME ["/usr/local/tomcat/logs"]' \
    "LABEL org.opencontainers.image.description=\"Built by Labdeck from Debian $SUITE's tomcat10 package $package and openjdk-17-jre-headless, see /etc/labdeck-image\"" \
    "LABEL org.opencontainers.image.version=$version" \
    -- tomcat:10 tomcat:10.1
  if verify; then
    # An empty webapps/: Tomcat's own 404 page, as with Docker Hub's image.
    check_serves tomcat:latest 8080 404 "Apache Tomcat/$version" "Server startup in"
    scratch_clean
    volumes=$(docker image inspect --format '{{json .Config.Volumes}}' tomcat:latest)
    [ "$volumes" = '{"/usr/local/tomcat/logs":{},"/usr/local/tomcat/webapps":{}}' ] \
      || check_fail "tomcat:latest declares the volumes $volumes"
  fi
  save tomcat.tar tomcat:latest tomcat:10 tomcat:10.1
fi

if missing redis.tar; then
  need_mirror
  # redis:7 from this Debian release, redis:6 from the one before it.
  REDIS_TAGS=()
  for spec in "7 $SUITE redis:latest redis:7 redis:7.0" "6 $REDIS6_SUITE redis:6 redis:6.0"; do
    set -- $spec
    major=$1 suite=$2
    shift 2
    tags=("$@")
    root=$WORK/redis$major
    debian_root "$root" "$suite"
    # The user Docker Hub's image runs the server as (uid and gid 999), the
    # same in both images, so that either one owns what the other wrote.
    chroot "$root" groupadd --system --gid 999 redis
    chroot "$root" useradd --system --uid 999 --gid redis --no-create-home --home-dir /var/lib/redis --shell /usr/sbin/nologin redis
    apt_install "$root" "$suite" redis-server
    package=$(package_version "$root" redis-server)
    version=$(upstream "$package")
    tag_fits "$version" "${tags[@]}"
    mkdir -p "$root/data"
    chown 999:999 "$root/data"
    cat > "$root/usr/local/bin/docker-entrypoint.sh" <<'SH'
#!/bin/sh
# Entry point of Labdeck's redis images (Debian's redis-server package),
# which does what Docker Hub's redis image does for its users:
# - options alone (`docker run redis:7 --appendonly yes`) or a file ending in
#   .conf are redis-server's arguments;
# - started as root, redis-server is given its working directory (/data)
#   and runs as the user redis;
# - protected mode is off, unless the command line or the configuration file
#   says otherwise: other containers may connect without a password, as
#   Docker publishes no port of a container unless asked to.
set -e
case "$1" in
  -* | *.conf) set -- redis-server "$@" ;;
esac
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . ! -user redis -exec chown redis '{}' + || true
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
if [ "$1" = redis-server ]; then
  protected=default
  for arg in "$@"; do
    [ "$arg" = --protected-mode ] && protected=given
  done
  if [ -f "${2:-}" ] && grep -Eqs '^[[:space:]]*protected-mode[[:space:]]' "$2"; then
    protected=given
  fi
  [ "$protected" = given ] || set -- "$@" --protected-mode no
fi
exec "$@"
SH
    chmod 0755 "$root/usr/local/bin/docker-entrypoint.sh"
    labdeck_image "$root" "Labdeck offline image, tagged ${tags[*]}: not Docker Hub's redis image \
but Debian $suite's redis-server package $package (Redis $version) with its redis-cli \
(redis-tools), on a Debian $(cat "$root/etc/debian_version") ($suite) minbase root. \
As in Docker Hub's image, redis-server runs in the foreground with Redis's defaults \
(no configuration file), as the user redis (uid 999), in /data, a volume, where it \
saves dump.rdb; /usr/local/bin/docker-entrypoint.sh turns protected mode off \
(--protected-mode no) unless the command line or the configuration file sets it, \
so that other containers can connect."
    import_root "$root" "${tags[0]}" 'ENTRYPOINT ["docker-entrypoint.sh"]' 'CMD ["redis-server"]' \
      'EXPOSE 6379/tcp' 'VOLUME ["/data"]' 'WORKDIR /data' \
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' "ENV REDIS_VERSION=$version" \
      "LABEL org.opencontainers.image.description=\"Built by Labdeck from Debian $suite's redis-server package $package, see /etc/labdeck-image\"" \
      "LABEL org.opencontainers.image.version=$version" \
      -- "${tags[@]:1}"
    REDIS_TAGS+=("${tags[@]}")
  done
  if verify; then
    # As in the course: redis:6 saves a counter, stops, and a redis:7
    # started with its volumes reads it.
    redis_cli() {
      docker exec "$1" redis-cli "${@:2}" 2>&1 | tr -d '\r'
    }
    redis_wait() {
      for _ in $(seq 1 100); do [ "$(redis_cli "$1" PING)" = PONG ] && return 0; sleep 0.1; done
      check_fail "$2 does not answer PING: $(docker logs "$1" 2>&1 | tail -n 20)"
    }
    scratch_run --network none redis:6
    old=$CID
    redis_wait "$old" redis:6
    redis_cli "$old" SET counter 41 >/dev/null
    redis_cli "$old" INCR counter >/dev/null
    [ "$(redis_cli "$old" SAVE)" = OK ] || check_fail "redis:6 does not SAVE"
    info=$(redis_cli "$old" INFO server)
    case "$info" in *"redis_version:6."*) ;; *) check_fail "redis:6 is not Redis 6: $(echo "$info" | grep redis_version)" ;; esac
    [ "$(redis_cli "$old" CONFIG GET protected-mode | tail -n 1)" = no ] || check_fail "redis:6 runs in protected mode"
    docker stop -t 10 "$old" >/dev/null
    scratch_run --network none --volumes-from "$old" redis:7
    new=$CID
    redis_wait "$new" redis:7
    out=$(redis_cli "$new" GET counter)
    [ "$out" = 42 ] || check_fail "redis:7 does not read what redis:6 saved (GET counter: \"$out\")"
    info=$(redis_cli "$new" INFO server)
    case "$info" in *"redis_version:7."*) ;; *) check_fail "redis:7 is not Redis 7: $(echo "$info" | grep redis_version)" ;; esac
    [ "$(redis_cli "$new" CONFIG GET protected-mode | tail -n 1)" = no ] || check_fail "redis:7 runs in protected mode"
    [ "$(docker exec "$new" stat -c %U /data/dump.rdb)" = redis ] || check_fail "redis:7 does not run as the user redis"
    scratch_clean
  fi
  save redis.tar "${REDIS_TAGS[@]}"
fi

if missing crashtest.tar; then
  root=$WORK/crashtest
  busybox_root "$root"
  mkdir -p "$root/usr/local/bin"
  cat > "$root/usr/local/bin/crashtest" <<'EOF'
#!/bin/sh
# Labdeck stand-in for jpetazzo/crashtest: a program that fails at start,
# for the lesson on finding out why a container exited. It writes why to
# /var/log/crashtest.log (inside the container: `docker cp` it out) and to
# stderr, then exits with status 1.
log() {
  echo "$(date -u '+%Y-%m-%d %H:%M:%S') crashtest[$$]: $*" >> /var/log/crashtest.log
  echo "crashtest: $*" >&2
}
log "starting"
log "reading configuration file /etc/crashtest.conf"
if [ -f /etc/crashtest.conf ]; then
  log "configuration file /etc/crashtest.conf found, but this program always crashes (Labdeck stand-in)"
else
  log "config file /etc/crashtest.conf missing"
fi
log "fatal error, exiting with status 1"
exit 1
EOF
  chmod 0755 "$root/usr/local/bin/crashtest"
  standin_os_release "$root" labdeck-crashtest "Labdeck stand-in for jpetazzo/crashtest (BusyBox and a shell script)"
  import_root "$root" jpetazzo/crashtest:latest 'CMD ["crashtest"]' \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'LABEL org.opencontainers.image.description="Labdeck stand-in for jpetazzo/crashtest: logs why it fails, then exits 1"' --
  if verify; then
    rc=0
    docker run --rm --network none jpetazzo/crashtest >/dev/null 2>&1 || rc=$?
    [ "$rc" = 1 ] || check_fail "jpetazzo/crashtest exits with $rc, not 1"
  fi
  save crashtest.tar jpetazzo/crashtest:latest
fi

# --- python.tar: the root of ubuntu.tar plus Debian's python3 ---
if missing python.tar; then
  need_mirror
  root=$WORK/python
  debian_root "$root" "$SUITE"
  apt_install "$root" "$SUITE" python3
  ln -sfn /usr/bin/python3 "$root/usr/local/bin/python"
  pyversion=$(chroot "$root" python3 -c 'import platform; print(platform.python_version())')
  case "$pyversion" in 3.11.*) ;; *) say "warning: python3 is $pyversion, yet the image is tagged python:3.11" ;; esac
  debian=$(cat "$root/etc/debian_version")
  rm -f "$root/etc/os-release"
  cat > "$root/etc/os-release" <<EOF
PRETTY_NAME="Labdeck stand-in for python:3.11: Debian GNU/Linux 12 ($SUITE) with Debian's python3 $pyversion"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 ($SUITE)"
VERSION_CODENAME=$SUITE
ID=debian
HOME_URL="https://www.debian.org/"
EOF
  cat > "$root/etc/labdeck-image" <<EOF
Labdeck offline image: a stand-in for python:3.11. It is the root of the
workshop's debian and ubuntu images (Debian $debian, $SUITE, minbase) plus
Debian's python3 package (Python $pyversion in /usr/bin/python3, with
/usr/local/bin/python pointing to it), not the official python image built
from source: there is no pip. apt installs from the workshop's repository
at $REPO_URL.
EOF
  import_root "$root" python:latest 'CMD ["python3"]' \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' 'ENV LANG=C.UTF-8' \
    "ENV PYTHON_VERSION=$pyversion" \
    "LABEL org.opencontainers.image.description=\"Labdeck stand-in for python:3.11: Debian $SUITE with Debian's python3 $pyversion, see /etc/labdeck-image\"" \
    -- python:3 python:3.11
  if verify; then
    out=$(docker run --rm --network none python:latest python -c 'print(6*7)' 2>&1) || true
    [ "$out" = 42 ] || check_fail "python:latest cannot run python: $out"
  fi
  save python.tar python:latest python:3 python:3.11
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
  # What each tarball holds, so that this file (and the registry made from
  # it, build-registry.sh) changes whenever a tarball is built again.
  for item in "${ITEMS[@]}"; do
    set -- $item
    if [ -s "$CACHE/$1" ]; then
      echo "# $1 images: $(manifest "$1" | grep -o '"Config":"[^"]*"' | cut -d'"' -f4 | sed 's/\.json$//; s|.*/||' | cut -c1-12 | xargs)"
    fi
  done
} > "$CACHE/images.txt.tmp"
chmod 0644 "$CACHE/images.txt.tmp"
mv "$CACHE/images.txt.tmp" "$CACHE/images.txt"
