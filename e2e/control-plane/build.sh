#!/usr/bin/env bash
# Build (once) and cache the test control plane: kube-apiserver, etcd, kubectl
# and helm, compiled from Go modules via the wrapper modules next to this script.
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
helm="$HELM_VERSION"
helm_major="${helm%%.*}"
versions="kubernetes-${k8s}_etcd-${etcd}_helm-${helm}"
bin="${PGWARDEN_CONTROL_PLANE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pgwarden/control-plane/$versions/bin}"

# The stamp covers the versions and the exact dependency graph (go.sum), so a
# bump or a regenerated wrapper invalidates the cache.
wrappers=(kubernetes etcd helm)
binaries=(etcd kube-apiserver kubectl helm)
sum() {
  local w
  { cat "$here/versions.env"; for w in "${wrappers[@]}"; do cat "$here/$w/go.mod" "$here/$w/go.sum"; done; } |
    sha256sum | cut -c1-16
}
# Bump `recipe` when the build flags below change, to invalidate old caches.
recipe=2
stamp="kubernetes=$k8s etcd=$etcd helm=$helm wrappers=$(sum) recipe=$recipe"

fresh() {
  local b
  for b in "${binaries[@]}"; do [[ -x "$bin/$b" ]] || return 1; done
  [[ -f "$bin/.stamp" && "$(cat "$bin/.stamp")" == "$stamp" ]]
}

if [[ "${PGWARDEN_CONTROL_PLANE_REBUILD:-}" != 1 ]] && fresh; then
  echo "$bin"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  die "Go is required to build kube-apiserver and etcd (install the 'golang' package, e.g. 'apt-get install golang', or Go >= 1.26 from https://go.dev/dl)"
fi
need_go="$(cat "$here"/*/go.mod | sed -n 's/^go \([0-9.]*\)$/\1/p' | sort -V | tail -1)"
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

# build NAME WRAPPER PACKAGE LDFLAGS: `go build` an upstream main package, unchanged,
# inside its wrapper module; written to NAME.tmp and renamed when complete.
build() {
  local name="$1" wrapper="$2" pkg="$3" ldflags="$4" t=$SECONDS
  log "building $name into $bin"
  (cd "$here/$wrapper" && go build -ldflags "-s -w $ldflags" -o "$bin/$name.tmp" "$pkg")
  mv -f "$bin/$name.tmp" "$bin/$name"
  log "$name built in $((SECONDS - t))s"
}

start=$SECONDS
log "first build: a few minutes (kube-apiserver alone ~4 min on 2 cores)"
build etcd etcd go.etcd.io/etcd/server/v3 ""
build kube-apiserver kubernetes k8s.io/kubernetes/cmd/kube-apiserver "$vflags"
build kubectl kubernetes k8s.io/kubernetes/cmd/kubectl "$vflags"
hv="helm.sh/helm/$helm_major/internal/version"
build helm helm "helm.sh/helm/$helm_major/cmd/helm" "-X '$hv.version=$helm' -X '$hv.metadata=' -X '$hv.gitTreeState=clean'"

# Sanity: the binaries report the versions we asked for. Output is captured
# first: `cmd | grep -q` under pipefail fails when grep exits before cmd ends.
check() { # NAME EXPECTED-LINE COMMAND...
  local name="$1" want="$2" got
  shift 2
  got="$("$@" 2>&1)" || die "$name: $* failed: $got"
  grep -qxF -- "$want" <<<"$got" || die "$name: '$*' does not print '$want':"$'\n'"$got"
}
check etcd "etcd Version: ${etcd#v}" "$bin/etcd" --version
check kube-apiserver "Kubernetes $k8s" "$bin/kube-apiserver" --version
check kubectl "Client Version: $k8s" "$bin/kubectl" version --client
check helm "$helm" "$bin/helm" version --template '{{.Version}}'

echo "$stamp" >"$bin/.stamp"
log "done in $((SECONDS - start))s: $(cd "$bin" && du -sh "${binaries[@]}" | awk '{printf "%s %s, ", $2, $1}' | sed 's/, $//')"
echo "$bin"
