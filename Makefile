# pgwarden — every target sets up what it needs (Node 24 + pnpm in .tools/, node_modules).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/.tools/bin:$(PATH)

.PHONY: setup build test e2e-kind lint bench demo chart-crds images clean

setup:
	@./scripts/setup-node.sh
	@pnpm install --frozen-lockfile --prefer-offline --reporter=silent

build: setup
	@pnpm run --silent build

# The Go-built test servers (kube-apiserver, etcd, kubectl, helm, versitygw) are built
# here, once, with both cores and no test timeout around them; cached: ~20 ms.
test: build
	@mkdir -p .cache
	@./e2e/control-plane/build.sh >/dev/null
	@./e2e/s3/build.sh >/dev/null
	@status=0; pnpm exec vitest run --reporter=default --reporter=json --outputFile.json=.cache/vitest.json || status=$$?; \
	node scripts/test-summary.mjs .cache/vitest.json; exit $$status

# The operator e2e suite on a throwaway kind cluster (needs Docker, kind, kubectl;
# checks for them before building anything). See operator/README.md.
e2e-kind:
	@./e2e/kind/run.sh

# biome, then tsc over each package's src and test (tsc -b compiles only src; vitest strips types).
lint: setup
	@pnpm exec biome check .
	@pnpm run --silent typecheck

bench: build
	@node e2e/dist/bench/main.js

demo: build
	@node e2e/dist/demo/main.js

# The Helm chart's CRD templates (charts/pgwarden/templates/crds) from crds/manifests
# (`pnpm generate` runs it too). A test in make test fails when they are stale.
# Node 24 runs the TypeScript source directly: no build needed.
chart-crds: setup
	@node e2e/src/helm/chart-crds.ts

# The operator and sidecar images (needs Docker; explains itself without it).
# REGISTRY and VERSION override the image names.
images:
	@./scripts/images.sh

clean:
	rm -rf .tools node_modules */dist */*.tsbuildinfo
