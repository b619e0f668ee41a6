#!/usr/bin/env bash
# `make images`: builds the operator and sidecar container images with Docker.
#
#   REGISTRY=ghcr.io/pgwarden VERSION=0.1.0 scripts/images.sh
#
# Without Docker it says so and exits 1: the images are not built. What they
# would contain can still be checked: scripts/production-tree.sh PACKAGE DIR
# builds the same production tree the Dockerfiles copy (e2e/src/images tests it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
registry=${REGISTRY:-ghcr.io/pgwarden}
version=${VERSION:-$(node -p "require('$root/operator/package.json').version")}
revision=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  cat >&2 <<MSG
images: Docker is not available here (no docker command, or no daemon answering), so no image was built.
  With Docker:   make images    (REGISTRY=$registry VERSION=$version)
  Without it:    scripts/production-tree.sh @pgwarden/sidecar /tmp/sidecar-tree
                 builds the production tree the sidecar image copies to /app (likewise @pgwarden/operator);
                 node /tmp/sidecar-tree/dist/cli/main.js --help runs the CLI from it.
MSG
  exit 1
fi
for component in operator sidecar; do
  image="$registry/$component:$version"
  echo "images: building $image" >&2
  docker build --file "$root/$component/Dockerfile" --tag "$image" \
    --build-arg "VERSION=$version" --build-arg "REVISION=$revision" "$root"
  docker image ls "$image" --format "images: {{.Repository}}:{{.Tag}} {{.Size}}" >&2
done
