#!/usr/bin/env bash
# Build (once) and cache the S3-compatible test server: versitygw (Versity S3
# Gateway, posix backend), compiled from Go modules via the wrapper module next
# to this script.
#
#   e2e/s3/build.sh        # prints the path of the versitygw binary on stdout
#
# Cache: ${PGWARDEN_S3_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pgwarden/s3/versitygw-<version>/bin}
# When the binary and a matching stamp are there, exits at once.
# Set PGWARDEN_S3_REBUILD=1 to force a rebuild.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

log() { echo "s3: $*" >&2; }
die() { log "error: $*"; exit 1; }

version="$VERSITYGW_VERSION"
bin="${PGWARDEN_S3_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pgwarden/s3/versitygw-$version/bin}"

# The stamp covers the version and the exact dependency graph (go.sum).
sum() { cat "$here/versions.env" "$here/versitygw/go.mod" "$here/versitygw/go.sum" | sha256sum | cut -c1-16; }
# Bump `recipe` when the build flags below change, to invalidate old caches.
recipe=1
stamp="versitygw=$version wrapper=$(sum) recipe=$recipe"

fresh() {
  [[ -x "$bin/versitygw" && -f "$bin/.stamp" ]] && [[ "$(cat "$bin/.stamp")" == "$stamp" ]]
}

if [[ "${PGWARDEN_S3_REBUILD:-}" != 1 ]] && fresh; then
  echo "$bin/versitygw"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  die "Go is required to build versitygw (install the 'golang' package, e.g. 'apt-get install golang', or Go >= 1.25 from https://go.dev/dl)"
fi
grep -qE "github.com/versity/versitygw $version( |$)" "$here/versitygw/go.mod" ||
  die "versitygw/go.mod does not require versitygw $version; update it and run go mod tidy there"

mkdir -p "$bin"
exec 9>"$bin/.lock"
flock 9 # one build at a time; a concurrent caller waits, then finds it fresh
if [[ "${PGWARDEN_S3_REBUILD:-}" != 1 ]] && fresh; then
  echo "$bin/versitygw"
  exit 0
fi
rm -f "$bin/.stamp"

export CGO_ENABLED=0 GOFLAGS="-trimpath -mod=readonly" GOWORK=off

# Reproducible build time: the release's publication time on the module proxy.
build_time="$(cd "$here/versitygw" && go mod download -json "github.com/versity/versitygw@$version" 2>/dev/null |
  sed -n 's/^[[:space:]]*"Time": "\(.*\)",\{0,1\}$/\1/p' | head -1)"
build_time="${build_time:-1970-01-01T00:00:00Z}"

start=$SECONDS
log "building versitygw $version into $bin (first time only; about 2 minutes on 2 cores)"
(cd "$here/versitygw" && go build \
  -ldflags "-s -w -X main.Version=$version -X main.Build= -X main.BuildTime=$build_time" \
  -o "$bin/versitygw.tmp" github.com/versity/versitygw/cmd/versitygw)
mv -f "$bin/versitygw.tmp" "$bin/versitygw"
"$bin/versitygw" --version | grep -q "Version  : $version" || die "versitygw --version does not report $version"

echo "$stamp" >"$bin/.stamp"
log "done in $((SECONDS - start))s: $(du -sh "$bin/versitygw" | cut -f1) versitygw"
echo "$bin/versitygw"
