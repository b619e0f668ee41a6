#!/usr/bin/env bash
# The production install of one workspace package, as its container image holds it:
#
#   scripts/production-tree.sh @pgwarden/sidecar OUT_DIR
#
# `pnpm deploy --prod` (dependencies only, workspace packages copied in, the
# lockfile's exact versions), then pruned to what runs: dist/ (JavaScript and
# source maps, for stack traces), package.json and node_modules without type
# declarations and source maps (a third of @kubernetes/client-node). Needs the
# package built (tsc -b). The Dockerfiles and e2e/src/images run this same script.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 PACKAGE OUT_DIR" >&2; exit 2; }
package=$1
out=$2
root=$(cd "$(dirname "$0")/.." && pwd)
[ -e "$out" ] && { echo "production-tree: $out exists; give a new directory" >&2; exit 2; }
cd "$root"
pnpm --filter "$package" deploy --prod --reporter=silent "$out" >&2
# The app and every workspace package copied into it: sources, tests and
# build state do not run.
for dir in "$out" "$out"/node_modules/.pnpm/@pgwarden+*/node_modules/@pgwarden/*; do
  rm -rf "$dir/src" "$dir/test" "$dir/tsconfig.json" "$dir"/*.tsbuildinfo "$dir/pnpm-lock.yaml"
  [ -d "$dir/dist" ] && find "$dir/dist" \( -name '*.d.ts' -o -name '*.d.ts.map' -o -name '*.test.js' -o -name '*.test.js.map' \) -delete
done
find "$out/node_modules/.pnpm" \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) -delete
echo "$out"
