# pgwarden — every target sets up what it needs (Node 24 + pnpm in .tools/, node_modules).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/.tools/bin:$(PATH)

.PHONY: setup build test lint bench demo clean

setup:
	@./scripts/setup-node.sh
	@pnpm install --frozen-lockfile --prefer-offline --reporter=silent

build: setup
	@pnpm run --silent build

test: build
	@pnpm exec vitest run

lint: setup
	@pnpm exec biome check .

bench: build
	@node e2e/dist/bench/main.js

demo: build
	@node e2e/dist/demo/main.js

clean:
	rm -rf .tools node_modules */dist */*.tsbuildinfo
