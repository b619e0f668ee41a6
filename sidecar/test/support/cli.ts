import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '@pgwarden/e2e';
import { beforeAll } from 'vitest';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLI_MAIN = join(REPO_ROOT, 'sidecar/dist/cli/main.js');

/**
 * (Re)builds the sidecar before the file's tests, so they never run a stale
 * `pgwarden` CLI; incremental, so quick when it is up to date.
 */
export function useBuiltCli(): void {
  beforeAll(async () => {
    const tsc = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
    const build = await run(process.execPath, [tsc, '-b', 'sidecar'], { cwd: REPO_ROOT, timeoutMs: 120_000 });
    if (build.code !== 0) throw new Error(`tsc -b sidecar failed:\n${build.stdout}${build.stderr}`);
    if (!existsSync(CLI_MAIN)) throw new Error(`tsc -b sidecar did not produce ${CLI_MAIN}`);
  }, 150_000);
}
