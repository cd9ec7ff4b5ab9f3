#!/usr/bin/env bash
# Make sure the sandbox image and the cache of images that sandboxes load
# exist; build only what is missing. The sandbox image is tagged with a hash
# of every file that goes into it (or into its build), so a change rebuilds
# it and an unchanged tree does not.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${LABDECK_SANDBOX_IMAGE:-labdeck/sandbox:latest}
CACHE=${LABDECK_IMAGE_CACHE:-/var/lib/labdeck/images}
BUILD_WITH_DOCKERFILE=${LABDECK_BUILD_WITH_DOCKERFILE:-False}
hash=$( { cat deploy/sandbox/build-offline.sh deploy/sandbox/entrypoint.sh deploy/sandbox/bashrc deploy/sandbox/labdeck-term.c \
  deploy/images/debian-mirror.sh deploy/sandbox/registry.yml deploy/sandbox/Dockerfile; echo "dockerfile=$BUILD_WITH_DOCKERFILE"; } \
  | sha256sum | cut -c1-12)
repo=${IMAGE%:*}
if ! docker image inspect "$repo:$hash" >/dev/null 2>&1; then
  if [ "$BUILD_WITH_DOCKERFILE" = "True" ]; then
    docker build -t "$repo:$hash" deploy/sandbox
  else
    deploy/sandbox/build-offline.sh "$repo:$hash"
  fi
fi
docker tag "$repo:$hash" "$IMAGE"
deploy/images/build-cache.sh "$CACHE"
deploy/images/build-registry.sh "$CACHE" "$IMAGE"
