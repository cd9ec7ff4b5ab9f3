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
#   nginx.tar    nginx:latest, nginx:1.27: busybox plus a small static web server
#                (src/httpd.c, not nginx) on port 80, nginx's access log on stdout
#   tomcat.tar   tomcat:latest, tomcat:10: the same server on port 8080 (not
#                Tomcat, no Java), volumes for webapps/ and logs/
#   redis.tar    redis:latest, redis:7 (7.2.4), redis:6 (6.2.14): busybox plus
#                src/redis.c (not Redis: strings only) and src/redis-cli.c
#   crashtest.tar  jpetazzo/crashtest:latest: logs why it fails, then exits 1
#   python.tar   python:latest, python:3, python:3.11: the ubuntu.tar root
#                (Debian bookworm) plus Debian's python3
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
  "nginx.tar background nginx:latest nginx:1.27"
  "tomcat.tar background tomcat:latest tomcat:10"
  "redis.tar background redis:latest redis:7 redis:6"
  "crashtest.tar background jpetazzo/crashtest:latest"
  "python.tar background python:latest python:3 python:3.11"
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

# --- stand-ins built from small C programs (src/*.c) on a BusyBox root ---
# Compiled static with the host's gcc, so they need nothing in the image.
need_cc() {
  command -v gcc >/dev/null && dpkg -s libc6-dev >/dev/null 2>&1 && return 0
  say "installing gcc and libc6-dev on the host to build the stand-ins"
  DEBIAN_FRONTEND=noninteractive apt-get -q -y install gcc libc6-dev >"$WORK/apt-host.log" 2>&1 \
    || { tail -n 20 "$WORK/apt-host.log" >&2; exit 1; }
}
# static_bin OUT SOURCE [gcc flags...]
static_bin() {
  local out=$1 src=$2
  shift 2
  need_cc
  mkdir -p "$(dirname "$out")"
  # glibc warns that getaddrinfo in a static binary wants its own NSS
  # modules at run time: "files" and "dns" are built in, that is all we use.
  if ! gcc -O2 -static -Wall -o "$out" "$@" "$HERE/src/$src" >"$WORK/gcc.log" 2>&1; then
    cat "$WORK/gcc.log" >&2
    exit 1
  fi
  strip "$out"
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
# Smoke tests of the new images on the build machine (no network).
verify() { [ "${LABDECK_IMAGES_VERIFY:-True}" = "True" ]; }
check_fail() {
  echo "images: $*" >&2
  exit 1
}
# check_serves IMAGE PORT TEXT: run it, fetch / from inside, expect TEXT.
check_serves() {
  local image=$1 port=$2 text=$3 cid out
  cid=$(docker run -d --network none "$image")
  out=""
  for _ in $(seq 1 50); do
    out=$(docker exec "$cid" wget -qO- "http://127.0.0.1:$port/" 2>/dev/null) && break
    sleep 0.1
  done
  local logs
  logs=$(docker logs "$cid" 2>/dev/null)
  docker rm -f "$cid" >/dev/null
  case "$out" in *"$text"*) ;; *) check_fail "$image does not serve \"$text\" on port $port" ;; esac
  case "$logs" in *'"GET / HTTP/1.1" 200 '*) ;; *) check_fail "$image does not log its requests: $logs" ;; esac
}

if missing nginx.tar || missing tomcat.tar; then
  static_bin "$WORK/httpd" httpd.c
fi

if missing nginx.tar; then
  root=$WORK/nginx
  busybox_root "$root"
  mkdir -p "$root/usr/sbin" "$root/usr/share/nginx/html" "$root/var/log/nginx" "$root/var/run" "$root/etc/nginx"
  cp "$WORK/httpd" "$root/usr/sbin/nginx"
  # As in the real image: the logs go to the container's output.
  ln -s /dev/stdout "$root/var/log/nginx/access.log"
  ln -s /dev/stderr "$root/var/log/nginx/error.log"
  cat > "$root/usr/share/nginx/html/index.html" <<'EOF'
<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx! (Labdeck stand-in)</h1>
<p>If you see this page, the web server of this container is running.</p>

<p>This image is a Labdeck stand-in for nginx: a small web server built for
the workshop that serves the files of <code>/usr/share/nginx/html</code>
on port 80, like nginx's default site.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
EOF
  cat > "$root/usr/share/nginx/html/50x.html" <<'EOF'
<!DOCTYPE html>
<html>
<head>
<title>Error</title>
</head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
</body>
</html>
EOF
  cat > "$root/etc/nginx/README" <<'EOF'
This image is a Labdeck stand-in for nginx 1.27, not nginx: /usr/sbin/nginx
is a small static web server (deploy/images/src/httpd.c in Labdeck) that reads
no configuration. It serves /usr/share/nginx/html on port 80 (GET and HEAD)
and logs every request to stdout in nginx's "combined" format.
EOF
  standin_os_release "$root" labdeck-nginx "Labdeck stand-in for nginx:1.27 (BusyBox and a small C web server, not nginx)"
  import_root "$root" nginx:latest 'CMD ["nginx", "-g", "daemon off;"]' 'EXPOSE 80/tcp' \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' 'ENV NGINX_VERSION=1.27.3' \
    'LABEL org.opencontainers.image.description="Labdeck stand-in for nginx:1.27: BusyBox and a small C web server, not nginx"' \
    -- nginx:1.27
  if verify; then check_serves nginx:latest 80 "Welcome to nginx!"; fi
  save nginx.tar nginx:latest nginx:1.27
fi

if missing tomcat.tar; then
  root=$WORK/tomcat
  home=$root/usr/local/tomcat
  busybox_root "$root"
  mkdir -p "$home/bin" "$home/webapps/ROOT" "$home/logs" "$home/conf" "$home/temp"
  cp "$WORK/httpd" "$home/bin/labdeck-httpd"
  cat > "$home/bin/catalina.sh" <<'EOF'
#!/bin/sh
# Labdeck stand-in for Apache Tomcat's catalina.sh. This image is not Tomcat
# (there is no Java in it): `catalina.sh run` starts a small static web
# server on port 8080 that serves $CATALINA_HOME/webapps (ROOT/ for /, NAME/
# for /NAME/) and writes its access log to stdout and to
# $CATALINA_HOME/logs/localhost_access_log.txt.
CATALINA_HOME=${CATALINA_HOME:-/usr/local/tomcat}
TOMCAT_VERSION=${TOMCAT_VERSION:-10.1.34}
case "${1:-}" in
  run)
    mkdir -p "$CATALINA_HOME/logs"
    echo "$(date -u '+%d-%b-%Y %H:%M:%S.000') INFO [main] Labdeck stand-in for Apache Tomcat/$TOMCAT_VERSION (not Tomcat): Server startup in [0] milliseconds, serving $CATALINA_HOME/webapps on port 8080" >&2
    exec "$CATALINA_HOME/bin/labdeck-httpd" -p 8080 --webapps "$CATALINA_HOME/webapps" \
      --log "$CATALINA_HOME/logs/localhost_access_log.txt" --pid "" --server-header "" \
      --name "Apache Tomcat/$TOMCAT_VERSION (Labdeck stand-in)"
    ;;
  version)
    echo "Server version: Apache Tomcat/$TOMCAT_VERSION (Labdeck stand-in, not Tomcat)"
    echo "Server number:  $TOMCAT_VERSION.0"
    ;;
  *)
    echo "Usage: catalina.sh ( run | version )" >&2
    echo "This Labdeck stand-in for Tomcat knows only these two commands." >&2
    exit 1
    ;;
esac
EOF
  chmod 0755 "$home/bin/catalina.sh"
  cat > "$home/webapps/ROOT/index.html" <<'EOF'
<!DOCTYPE html>
<html>
<head><title>Apache Tomcat (Labdeck stand-in)</title></head>
<body>
<h1>Apache Tomcat (Labdeck stand-in)</h1>
<p>If you see this page, the web server of this container is running.</p>
<p>This image is a Labdeck stand-in for Tomcat 10, not Tomcat: a small web
server built for the workshop that serves the files of
<code>/usr/local/tomcat/webapps</code> on port 8080 (<code>ROOT/</code> for
<code>/</code>, <code>NAME/</code> for <code>/NAME/</code>). It runs no Java
and no servlets. Its access log is in
<code>/usr/local/tomcat/logs/localhost_access_log.txt</code>.</p>
</body>
</html>
EOF
  standin_os_release "$root" labdeck-tomcat "Labdeck stand-in for tomcat:10 (BusyBox and a small C web server, not Tomcat)"
  import_root "$root" tomcat:latest 'CMD ["catalina.sh", "run"]' 'EXPOSE 8080/tcp' \
    'ENV PATH=/usr/local/tomcat/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'ENV CATALINA_HOME=/usr/local/tomcat' 'ENV TOMCAT_VERSION=10.1.34' 'WORKDIR /usr/local/tomcat' \
    'VOLUME ["/usr/local/tomcat/webapps"]' 'VOLUME ["/usr/local/tomcat/logs"]' \
    'LABEL org.opencontainers.image.description="Labdeck stand-in for tomcat:10: BusyBox and a small C web server, not Tomcat"' \
    -- tomcat:10
  if verify; then check_serves tomcat:latest 8080 "Apache Tomcat (Labdeck stand-in)"; fi
  save tomcat.tar tomcat:latest tomcat:10
fi

if missing redis.tar; then
  # Two images that differ in the version they report; the same dump format.
  for version in 7.2.4 6.2.14; do
    major=${version%%.*}
    root=$WORK/redis$major
    busybox_root "$root"
    mkdir -p "$root/data" "$root/usr/local/bin"
    static_bin "$root/usr/local/bin/redis-server" redis.c "-DREDIS_VERSION=\"$version\"" "-DREDIS_MAJOR=$major"
    static_bin "$root/usr/local/bin/redis-cli" redis-cli.c "-DREDIS_VERSION=\"$version\""
    standin_os_release "$root" labdeck-redis "Labdeck stand-in for redis:$major ($version): BusyBox and a small C server speaking the Redis protocol, not Redis"
    tags=("redis:$major")
    [ "$major" = 7 ] && tags=(redis:latest redis:7)
    import_root "$root" "${tags[0]}" 'CMD ["redis-server"]' 'EXPOSE 6379/tcp' 'VOLUME ["/data"]' 'WORKDIR /data' \
      'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' "ENV REDIS_VERSION=$version" \
      "LABEL org.opencontainers.image.description=\"Labdeck stand-in for redis:$major ($version): a small C server speaking the Redis protocol (strings only), not Redis\"" \
      -- "${tags[@]:1}"
  done
  if verify; then
    # Data saved by redis:6 is read by redis:7.
    vol=labdeck-build-redis-$$
    cid=$(docker run -d --network none -v "$vol:/data" redis:6)
    for _ in $(seq 1 50); do docker exec "$cid" redis-cli PING >/dev/null 2>&1 && break; sleep 0.1; done
    docker exec "$cid" redis-cli SET counter 41 >/dev/null || true
    docker exec "$cid" redis-cli INCR counter >/dev/null || true
    docker stop -t 5 "$cid" >/dev/null || true
    docker rm -f "$cid" >/dev/null
    cid=$(docker run -d --network none -v "$vol:/data" redis:latest)
    out=""
    for _ in $(seq 1 50); do out=$(docker exec "$cid" redis-cli GET counter 2>/dev/null) && break; sleep 0.1; done
    version=$(docker exec "$cid" redis-cli INFO server | grep '^redis_version:' | tr -d '\r') || true
    docker rm -f "$cid" >/dev/null
    docker volume rm "$vol" >/dev/null
    [ "$out" = 42 ] || check_fail "redis:latest does not read what redis:6 saved (GET counter: \"$out\")"
    [ "$version" = redis_version:7.2.4 ] || check_fail "redis:latest reports $version"
  fi
  save redis.tar redis:latest redis:7 redis:6
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
  . "$HERE/debian-mirror.sh" || { echo "images: cannot build python without a Debian mirror" >&2; exit 1; }
  root=$WORK/python
  mkdir -p "$root"
  # The very root of ubuntu.tar / debian.tar: its one layer, unpacked.
  layer=$(tar -xOf "$CACHE/ubuntu.tar" manifest.json | grep -o '"Layers":\["[^"]*"\]' | cut -d'"' -f4)
  [ -n "$layer" ] || check_fail "cannot find the layer of ubuntu.tar"
  tar -xOf "$CACHE/ubuntu.tar" "$layer" | tar -C "$root" --numeric-owner -xpf -
  # Its dpkg already leaves out documentation, manuals and translations.
  echo "deb $MIRROR $SUITE main" > "$root/etc/apt/labdeck-build.list"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  py_apt() {
    DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -q -y \
      -o Dir::Etc::SourceList=/etc/apt/labdeck-build.list -o Dir::Etc::SourceParts=/nonexistent "$@" \
      >>"$WORK/python-apt.log" 2>&1 || { tail -n 20 "$WORK/python-apt.log" >&2; exit 1; }
  }
  say "installing python3 from $MIRROR into a copy of the ubuntu/debian root"
  py_apt --error-on=any update
  py_apt install --no-install-recommends python3
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root/etc/apt/labdeck-build.list" "$root/etc/resolv.conf" \
    "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
  find "$root/var/log" -type f -delete
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
} > "$CACHE/images.txt.tmp"
mv "$CACHE/images.txt.tmp" "$CACHE/images.txt"
