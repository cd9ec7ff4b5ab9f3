#!/usr/bin/env bash
# Turn the cached tarballs into a registry's storage (CACHE/registry), which
# every sandbox serves read-only as its engine's Docker Hub mirror: `docker
# pull alpine:3.20` then works offline, and images not preloaded are pulled
# on demand from local disk. Rebuilt when images.txt changes.
#   build-registry.sh CACHE_DIR SANDBOX_IMAGE
set -euo pipefail
CACHE=${1:?usage: build-registry.sh CACHE_DIR SANDBOX_IMAGE}
IMAGE=${2:?usage: build-registry.sh CACHE_DIR SANDBOX_IMAGE}
HERE=$(cd "$(dirname "$0")" && pwd)
stamp=$(cat "$CACHE/images.txt" "$HERE/build-registry.sh" | sha256sum | cut -c1-16)
[ "$(cat "$CACHE/registry/.stamp" 2>/dev/null)" = "$stamp" ] && exit 0

PORT=${LABDECK_BUILD_REGISTRY_PORT:-5555}
NAME=labdeck-registry-build
work="$CACHE/registry.tmp"
rm -rf "$work" && mkdir -p "$work"
docker rm -f "$NAME" >/dev/null 2>&1 || true
# The registry binary comes from the sandbox image itself; it listens on
# loopback only, for the pushes below.
cat > "$work.yml" <<CONF
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: /var/lib/registry}}
http: {addr: 0.0.0.0:5000}
CONF
docker run -d --name "$NAME" --userns=host -p "127.0.0.1:$PORT:5000" -v "$work:/var/lib/registry" -v "$work.yml:/etc/registry.yml:ro" \
  --entrypoint docker-registry "$IMAGE" serve /etc/registry.yml >/dev/null
trap 'docker rm -f "$NAME" >/dev/null 2>&1 || true; rm -f "$work.yml"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && break; sleep 0.1; done

while read -r tarball _phase tags; do
  case "$tarball" in ''|'#'*) continue ;; esac
  docker load -q -i "$CACHE/$tarball" >/dev/null
  for tag in $tags; do
    case "$tag" in */*) path=$tag ;; *) path=library/$tag ;; esac
    docker tag "$tag" "127.0.0.1:$PORT/$path"
    docker push "127.0.0.1:$PORT/$path" >/dev/null
    docker rmi "127.0.0.1:$PORT/$path" >/dev/null
    echo "registry: $tag"
  done
done < "$CACHE/images.txt"
echo "$stamp" > "$work/.stamp"
rm -rf "$CACHE/registry"
mv "$work" "$CACHE/registry"
