import { setFlagsFromString } from 'node:v8';

/**
 * Keeps WebAssembly on V8's baseline compiler. Node 24's V8 re-compiles hot
 * WASM with its optimizing compiler in a background job, and for libpg-query's
 * giant generated grammar function that one job needs about 550 MiB for a
 * moment: measured peak RSS 660 MiB after a few sidecar parses (100 MiB
 * without it) and 620 MiB after a single impact preview in the operator, past
 * both containers' default 512 Mi memory limit. The price is an uncached parse
 * about twice as slow (~40 → ~85 µs). Call it before libpg-query's
 * loadModule(): the flags apply to WASM compiled afterwards in this process.
 */
export function keepWasmOnBaselineCompiler(): void {
  setFlagsFromString('--no-wasm-tier-up');
  setFlagsFromString('--no-wasm-dynamic-tiering');
}
