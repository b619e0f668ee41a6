#!/usr/bin/env bash
# Smoke test of the cached control plane: start etcd and kube-apiserver
# envtest-style on random loopback ports (generated certs, RBAC, service-account
# issuer and keys, ServiceAccount admission disabled), check /readyz and
# /version with a client certificate and with a static token, then tear down.
#
#   e2e/control-plane/smoke.sh      # builds first if needed (build.sh)
#   KEEP=1 e2e/control-plane/smoke.sh   # keep the temp dir (certs, logs)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/versions.env"
log() { echo "smoke: $*" >&2; }

command -v openssl >/dev/null || { log "error: openssl is required (package 'openssl')"; exit 1; }
command -v curl >/dev/null || { log "error: curl is required (package 'curl')"; exit 1; }
command -v node >/dev/null || { log "error: node is required to pick free ports"; exit 1; }

bin="$("$here/build.sh")"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/pgwarden-cp.XXXXXX")"
pids=()
cleanup() {
  local rc=$?
  # stop in reverse start order (kube-apiserver before etcd); SIGKILL after 10s
  local i pid
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid="${pids[i]}"
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ $rc -ne 0 ]]; then
    log "FAILED; last log lines:"
    tail -n 30 "$tmp"/*.log >&2 2>/dev/null || true
  fi
  if [[ "${KEEP:-}" == 1 || $rc -ne 0 ]]; then log "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

freeport() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
etcd_port="$(freeport)"; peer_port="$(freeport)"; api_port="$(freeport)"

# --- certificates ---------------------------------------------------------
pki="$tmp/pki"; mkdir -p "$pki"
(
  cd "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=pgwarden-test-ca" \
    -keyout ca.key -out ca.crt 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout server.key -out server.csr 2>/dev/null
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
    -extfile server.ext -out server.crt 2>/dev/null
  # admin client: O=system:masters
  printf 'extendedKeyUsage=clientAuth\n' >client.ext
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=admin" -keyout admin.key -out admin.csr 2>/dev/null
  openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
    -extfile client.ext -out admin.crt 2>/dev/null
  # service-account signing key pair
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
)
token="$(openssl rand -hex 16)"
echo "$token,admin-token,admin-token-uid,\"system:masters\"" >"$pki/tokens.csv"

# --- etcd -------------------------------------------------------------------
start=$SECONDS
"$bin/etcd" --name=pgwarden-test --data-dir="$tmp/etcd" \
  --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
  --listen-peer-urls="http://127.0.0.1:$peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
  --initial-cluster="pgwarden-test=http://127.0.0.1:$peer_port" \
  --unsafe-no-fsync --log-level=warn >"$tmp/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$etcd_port/health" | grep -q '"health":"true"' && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$etcd_port/health" | grep -q '"health":"true"' || { log "etcd did not become healthy"; exit 1; }
log "etcd healthy on 127.0.0.1:$etcd_port after $((SECONDS - start))s"

# --- kube-apiserver ---------------------------------------------------------
"$bin/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$etcd_port" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
  --cert-dir="$tmp/apiserver" \
  --tls-cert-file="$pki/server.crt" --tls-private-key-file="$pki/server.key" \
  --client-ca-file="$pki/ca.crt" --token-auth-file="$pki/tokens.csv" \
  --service-account-issuer="https://127.0.0.1:$api_port" \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --authorization-mode=RBAC \
  --disable-admission-plugins=ServiceAccount \
  --allow-privileged=true \
  --endpoint-reconciler-type=none \
  >"$tmp/kube-apiserver.log" 2>&1 &
pids+=($!)

url="https://127.0.0.1:$api_port"
cert=(--cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key")
ready=""
for _ in $(seq 1 600); do
  ready="$(curl -s "${cert[@]}" "$url/readyz" || true)"
  [[ "$ready" == ok ]] && break
  kill -0 "${pids[1]}" 2>/dev/null || { log "kube-apiserver exited"; exit 1; }
  sleep 0.1
done
[[ "$ready" == ok ]] || { log "kube-apiserver /readyz: $ready"; exit 1; }
log "kube-apiserver ready on $url after $((SECONDS - start))s (client cert): $ready"

tok="$(curl -s --cacert "$pki/ca.crt" -H "Authorization: Bearer $token" "$url/readyz")"
[[ "$tok" == ok ]] || { log "/readyz with token: $tok"; exit 1; }
log "/readyz with static token: $tok"

anon="$(curl -s -o /dev/null -w '%{http_code}' --cacert "$pki/ca.crt" "$url/api/v1/namespaces")"
[[ "$anon" == 401 || "$anon" == 403 ]] || { log "anonymous list namespaces: HTTP $anon (want 401/403)"; exit 1; }
log "anonymous list namespaces: HTTP $anon"

ver="$(curl -s "${cert[@]}" "$url/version")"
echo "$ver" | grep -q "\"gitVersion\": \"$KUBERNETES_VERSION\"" || { log "/version: $ver"; exit 1; }
log "/version gitVersion $KUBERNETES_VERSION"

ns="$(curl -s "${cert[@]}" "$url/api/v1/namespaces" | grep -o '"name": "[a-z-]*"' | tr '\n' ' ')"
log "namespaces: $ns"
log "OK; stopping"
