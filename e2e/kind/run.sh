#!/usr/bin/env bash
# make e2e-kind: the operator e2e suite against a throwaway kind cluster.
#
# Creates a kind cluster, runs operator/test with PGWARDEN_E2E_KUBECONFIG set
# to it, and deletes the cluster (also on failure or Ctrl-C). The operator
# runs as a process on this machine against the kind API server, as in the
# local suite; the API server in the kind node container calls its webhooks
# at this machine's address on the kind Docker network. No image is built:
# injected pods are checked as the API server stores them, not run.
# See operator/README.md, "End-to-end tests".
#
# Environment:
#   KIND_CLUSTER_NAME           cluster name (default pgwarden-e2e); must not exist yet
#   KIND_NODE_IMAGE             kind node image (default: kind's own; Kubernetes >= 1.29
#                               for native sidecars)
#   PGWARDEN_E2E_WEBHOOK_HOST   address the API server calls the webhooks at
#                               (default: the kind network's IPv4 gateway, i.e. this host)
#   PGWARDEN_E2E_WEBHOOK_LISTEN address the operator listens on (default: the host above)
#   PGWARDEN_E2E_KIND_KEEP=1    keep the cluster afterwards (its kubeconfig path is printed)
# Arguments are passed to vitest (e.g. operator/test/webhook.test.ts to run one file).
#
# Exit status: vitest's; 2 when Docker, kind or kubectl is missing or Docker
# is not running (checked before anything is built or created).
set -euo pipefail

repo="$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)"
cluster="${KIND_CLUSTER_NAME:-pgwarden-e2e}"

missing=()
for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]} > 0)); then
  {
    echo "e2e-kind: not found on PATH: ${missing[*]}"
    echo "e2e-kind: make e2e-kind runs the operator e2e suite on a kind cluster and needs Docker, kind and kubectl"
    echo "e2e-kind: (see operator/README.md, \"End-to-end tests\"); make test runs the same suite on the local control plane without them"
  } >&2
  exit 2
fi
if ! docker info >/dev/null 2>&1; then
  echo "e2e-kind: docker is installed but its daemon is not reachable (docker info failed); start Docker and retry" >&2
  exit 2
fi
if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  echo "e2e-kind: a kind cluster named $cluster exists already; delete it (kind delete cluster --name $cluster) or set KIND_CLUSTER_NAME" >&2
  exit 2
fi

make -C "$repo" --no-print-directory build
export PATH="$repo/.tools/bin:$PATH"

workdir="$(mktemp -d "${TMPDIR:-/tmp}/pgwarden-kind.XXXXXX")"
kubeconfig="$workdir/kubeconfig"
cleanup() {
  if [[ "${PGWARDEN_E2E_KIND_KEEP:-}" == 1 ]]; then
    echo "e2e-kind: kept cluster $cluster; kubeconfig: $kubeconfig" >&2
    return
  fi
  kind delete cluster --name "$cluster" --kubeconfig "$kubeconfig" >&2 || true
  rm -rf "$workdir"
}
trap cleanup EXIT

kind create cluster --name "$cluster" --kubeconfig "$kubeconfig" --wait 180s \
  ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"} >&2

# This host as the kind node containers see it: the kind network's gateway.
# (Docker Desktop runs containers in a VM: there, set
# PGWARDEN_E2E_WEBHOOK_HOST=host.docker.internal PGWARDEN_E2E_WEBHOOK_LISTEN=0.0.0.0.)
if [[ -z "${PGWARDEN_E2E_WEBHOOK_HOST:-}" ]]; then
  PGWARDEN_E2E_WEBHOOK_HOST="$(docker network inspect kind \
    --format '{{range .IPAM.Config}}{{println .Gateway}}{{end}}' | grep -E '^[0-9]+(\.[0-9]+){3}$' | head -n1 || true)"
  if [[ -z "$PGWARDEN_E2E_WEBHOOK_HOST" ]]; then
    echo "e2e-kind: no IPv4 gateway on the docker network \"kind\"; set PGWARDEN_E2E_WEBHOOK_HOST to an address of this host the kind node can reach" >&2
    exit 2
  fi
fi
echo "e2e-kind: cluster $cluster up; webhooks served at $PGWARDEN_E2E_WEBHOOK_HOST" >&2

cd "$repo"
PGWARDEN_E2E_KUBECONFIG="$kubeconfig" \
  PGWARDEN_E2E_WEBHOOK_HOST="$PGWARDEN_E2E_WEBHOOK_HOST" \
  pnpm exec vitest run operator/test "$@"
