#!/usr/bin/env bash
# Build (once) and cache the test control plane: kube-apiserver and etcd,
# compiled from Go modules via the wrapper modules next to this script.
#
#   e2e/control-plane/build.sh        # prints the bin directory on stdout
#
# Cache: ${PGWARDEN_CONTROL_PLANE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pgwarden/control-plane/<versions>/bin}
# When the binaries and a matching version stamp are there, exits at once.
# Set PGWARDEN_CONTROL_PLANE_REBUILD=1 to force a rebuild.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

log() { echo "control-plane: $*" >&2; }
die() { log "error: $*"; exit 1; }

k8s="$KUBERNETES_VERSION"
etcd="$ETCD_VERSION"
versions="kubernetes-${k8s}_etcd-${etcd}"
bin="${PGWARDEN_CONTROL_PLANE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pgwarden/control-plane/$versions/bin}"

# The stamp covers the versions and the exact dependency graph (go.sum), so a
# bump or a regenerated wrapper invalidates the cache.
sum() { cat "$here/versions.env" "$here/kube-apiserver/go.mod" "$here/kube-apiserver/go.sum" \
  "$here/etcd/go.mod" "$here/etcd/go.sum" | sha256sum | cut -c1-16; }
# Bump `recipe` when the build flags below change, to invalidate old caches.
recipe=1
stamp="kubernetes=$k8s etcd=$etcd wrappers=$(sum) recipe=$recipe"

fresh() {
  [[ -x "$bin/kube-apiserver" && -x "$bin/etcd" && -f "$bin/.stamp" ]] &&
    [[ "$(cat "$bin/.stamp")" == "$stamp" ]]
}

if [[ "${PGWARDEN_CONTROL_PLANE_REBUILD:-}" != 1 ]] && fresh; then
  echo "$bin"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  die "Go is required to build kube-apiserver and etcd (install the 'golang' package, e.g. 'apt-get install golang', or Go >= 1.26 from https://go.dev/dl)"
fi
need_go="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$here/kube-apiserver/go.mod")"
have_go="$(go env GOVERSION)"; have_go="${have_go#go}"
if [[ "$(printf '%s\n%s\n' "$need_go" "$have_go" | sort -V | head -1)" != "$need_go" ]]; then
  log "note: Go $have_go < $need_go required by the wrapper modules; relying on GOTOOLCHAIN to fetch a newer toolchain"
fi

mkdir -p "$bin"
exec 9>"$bin/.lock"
flock 9 # one build at a time; a concurrent caller waits, then finds it fresh
if [[ "${PGWARDEN_CONTROL_PLANE_REBUILD:-}" != 1 ]] && fresh; then
  echo "$bin"
  exit 0
fi
rm -f "$bin/.stamp"

export CGO_ENABLED=0 GOFLAGS="-trimpath -mod=readonly" GOWORK=off

# Reproducible build date: the release's publication time on the module proxy.
release_time() {
  go mod download -json "$1" 2>/dev/null | sed -n 's/^[[:space:]]*"Time": "\(.*\)",\{0,1\}$/\1/p' | head -1
}

minor="${k8s#v1.}"; minor="${minor%%.*}"
build_date="$(release_time "k8s.io/kubernetes@$k8s")"
build_date="${build_date:-1970-01-01T00:00:00Z}"
vflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  vflags+=" -X '$pkg.gitVersion=$k8s' -X '$pkg.gitMajor=1' -X '$pkg.gitMinor=$minor'"
  vflags+=" -X '$pkg.gitCommit=' -X '$pkg.gitTreeState=clean' -X '$pkg.buildDate=$build_date'"
done

start=$SECONDS
log "building etcd $etcd into $bin (first time only; a few minutes)"
(cd "$here/etcd" && go build -ldflags "-s -w" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3)
mv -f "$bin/etcd.tmp" "$bin/etcd"
log "etcd built in $((SECONDS - start))s"

start2=$SECONDS
log "building kube-apiserver $k8s into $bin (first time only; 10+ minutes on 2 cores)"
(cd "$here/kube-apiserver" && go build -ldflags "-s -w $vflags" -o "$bin/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver)
mv -f "$bin/kube-apiserver.tmp" "$bin/kube-apiserver"
log "kube-apiserver built in $((SECONDS - start2))s"

# Sanity: the binaries report the versions we asked for.
"$bin/etcd" --version | grep -q "etcd Version: ${etcd#v}" || die "etcd --version does not report ${etcd#v}"
"$bin/kube-apiserver" --version | grep -qx "Kubernetes $k8s" || die "kube-apiserver --version does not report $k8s"

echo "$stamp" >"$bin/.stamp"
log "done in $((SECONDS - start))s: $(du -sh "$bin/etcd" | cut -f1) etcd, $(du -sh "$bin/kube-apiserver" | cut -f1) kube-apiserver"
echo "$bin"
