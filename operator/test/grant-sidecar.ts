import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Pod } from '@kubernetes/client-node';
import { freePort, run, type TestCluster } from '@pgwarden/e2e';
import { afterAll, beforeAll, expect, vi } from 'vitest';
import { boundToken } from './grant-fixtures.js';

// The sidecar as a process in grant mode against the operator, for e2e suites
// that need an agent's database session governed by a grant.

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const sidecarMain = join(repoRoot, 'sidecar/dist/cli/main.js');

export interface GrantSidecar {
  /** postgresql:// URL of the sidecar's listener. */
  url: string;
  /** The token it was given, for checks that its output never shows it. */
  token: string;
  output(): string;
}

/**
 * `pgwarden proxy` in grant mode, as the webhook injects it (PGWARDEN_* only),
 * with a token for `pod` (as created, e.g. by createAgentPod) from the real TokenRequest API (audience pgwarden.io,
 * bound to the pod) and the operator's CA; ready once granted. Killed after the suite.
 */
export function useGrantSidecars(): (
  k8s: TestCluster,
  pod: V1Pod,
  operator: { grantUrl: string; caPem: string },
) => Promise<GrantSidecar> {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  beforeAll(async () => {
    const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
    const build = await run(process.execPath, [tsc, '-b', 'sidecar'], { cwd: repoRoot, timeoutMs: 150_000 });
    if ((build.code !== 0 && build.stdout.includes('sidecar/')) || !existsSync(sidecarMain)) {
      throw new Error(`tsc -b sidecar failed:\n${build.stdout}`);
    }
  }, 160_000);
  afterAll(async () => {
    for (const child of children) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  return async (k8s, pod, operator) => {
    const dir = await mkdtemp(join(tmpdir(), 'pgwarden-grant-sidecar-'));
    dirs.push(dir);
    const token = await boundToken(k8s, pod);
    await writeFile(join(dir, 'token'), token, { mode: 0o600 });
    await writeFile(join(dir, 'ca.crt'), operator.caPem);
    const [port, adminPort] = [await freePort(), await freePort()];
    const notOurs = Object.keys(process.env).filter((k) => k.startsWith('PGWARDEN_'));
    const child = spawn(
      process.execPath,
      [sidecarMain, 'proxy', '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`],
      {
        env: {
          ...process.env,
          ...Object.fromEntries(notOurs.map((k) => [k, undefined])),
          PGWARDEN_GRANT_URL: operator.grantUrl,
          PGWARDEN_TOKEN_FILE: join(dir, 'token'),
          PGWARDEN_GRANT_CA_FILE: join(dir, 'ca.crt'),
          PGWARDEN_SPOOL_DIR: join(dir, 'spool'),
          PGWARDEN_POD_NAME: pod.metadata?.name,
          PGWARDEN_POD_NAMESPACE: pod.metadata?.namespace,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(child);
    let output = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    await vi.waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`the sidecar exited ${child.exitCode}:\n${output}`);
        const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => undefined);
        expect(ready?.status, output).toBe(200);
      },
      { timeout: 30_000, interval: 100 },
    );
    return { url: `postgresql://agent@127.0.0.1:${port}/app`, token, output: () => output };
  };
}
