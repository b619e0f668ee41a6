import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findOnPath, run } from '../src/harness/process.js';

// make e2e-kind on a machine without Docker: it must stop before building or
// creating anything, say what is missing, and exit non-zero. PATH holds
// nothing but bash, so docker, kind and kubectl are absent whatever the
// machine has installed.

const repo = fileURLToPath(new URL('../../', import.meta.url));
const script = join(repo, 'e2e/kind/run.sh');

function onPath(program: string): string {
  const path = findOnPath(program);
  if (!path) throw new Error(`${program} not found on PATH`);
  return path;
}

describe('make e2e-kind without Docker', () => {
  let bare = '';
  let env: Record<string, string | undefined> = {};

  beforeAll(async () => {
    bare = await mkdtemp(join(tmpdir(), 'pgwarden-nodocker-'));
    await symlink(onPath('bash'), join(bare, 'bash'));
    env = {
      PATH: bare,
      PGWARDEN_E2E_KUBECONFIG: undefined,
      PGWARDEN_E2E_WEBHOOK_HOST: undefined,
      MAKEFLAGS: undefined,
      MAKELEVEL: undefined,
    };
  });
  afterAll(async () => {
    await rm(bare, { recursive: true, force: true });
  });

  const missing = 'e2e-kind: not found on PATH: docker kind kubectl';

  it('the script names every missing tool, points at the docs and exits 2', async () => {
    const result = await run(join(bare, 'bash'), [script], { env, cwd: tmpdir() });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(missing);
    expect(result.stderr).toContain('needs Docker, kind and kubectl');
    expect(result.stderr).toContain('operator/README.md');
    expect(result.stdout).toBe('');
  });

  it('make e2e-kind fails with that message before building anything', async () => {
    const result = await run(onPath('make'), ['--no-print-directory', '-C', repo, 'e2e-kind'], { env });
    expect(result.code).not.toBe(0);
    // The first line is the script's: the check runs before make build or kind.
    expect(result.stderr.split('\n')[0]).toBe(missing);
    expect(result.stderr).toContain('e2e-kind] Error 2');
    expect(result.stdout).toBe('');
  });
});
