import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort, run } from '@pgwarden/e2e';
import { afterEach, beforeAll, vi } from 'vitest';

// The operator as a child process (operator/dist/main.js), the way a
// Deployment runs it: flags, JSON logs on stdout, signals.

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const OPERATOR_MAIN = `${repoRoot}operator/dist/main.js`;

export interface OperatorProcess {
  readonly identity: string;
  readonly adminPort: number;
  readonly child: ChildProcess;
  /** Parsed JSON log lines so far. */
  logs(): { msg: string; [field: string]: unknown }[];
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  /** GET of an admin path: status and body. */
  admin(path: string): Promise<{ status: number; body: string }>;
  /** Log lines that report an RBAC refusal (HTTP 403): the install manifests' RBAC is missing a rule. */
  forbidden(): string[];
  /** A sample's value from /metrics, e.g. metric('pgwarden_operator_leader'); 0 when absent. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

/** Builds the operator once per suite: incremental, so quick when current. */
export function useBuiltOperator(): void {
  beforeAll(async () => {
    const tsc = `${repoRoot}node_modules/typescript/bin/tsc`;
    const build = await run(process.execPath, [tsc, '-b', 'operator'], { cwd: repoRoot, timeoutMs: 120_000 });
    // Errors elsewhere (a dependency mid-change) still emit; errors in the operator must not pass.
    if ((build.code !== 0 && build.stdout.includes('operator/')) || !existsSync(OPERATOR_MAIN)) {
      throw new Error(`tsc -b operator failed:\n${build.stdout}`);
    }
  }, 150_000);
}

/**
 * Builds the operator once per suite, starts processes against the given
 * kubeconfig, and kills leftovers after each test.
 */
export function useOperatorProcesses(
  kubeconfig: () => string,
): (identity: string, args?: string[]) => Promise<OperatorProcess> {
  const started: OperatorProcess[] = [];
  useBuiltOperator();
  afterEach(async (context) => {
    for (const p of started.splice(0)) {
      if (context.task.result?.state === 'fail') {
        process.stderr.write(
          `--- ${p.identity} log:\n${p
            .logs()
            .map((l) => JSON.stringify(l))
            .join('\n')}\n`,
        );
      }
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }
  });
  return async (identity, args = []) => {
    const adminPort = await freePort();
    const child = spawn(
      process.execPath,
      [
        OPERATOR_MAIN,
        '--kubeconfig',
        kubeconfig(),
        '--identity',
        identity,
        '--admin-listen',
        `127.0.0.1:${adminPort}`,
        ...args,
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines: { msg: string }[] = [];
    let partial = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) lines.push(JSON.parse(line));
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const exited = new Promise<number | string>((resolve) =>
      child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
    );
    const admin = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${adminPort}${path}`);
      return { status: response.status, body: await response.text() };
    };
    const operator: OperatorProcess = {
      identity,
      adminPort,
      child,
      logs: () => lines as never,
      forbidden: () => lines.map((l) => JSON.stringify(l)).filter((l) => /forbidden|HTTP-Code: 403/i.test(l)),
      exited,
      admin,
      async metric(name, labels = {}) {
        const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
        for (const line of (await admin('/metrics')).body.split('\n')) {
          const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
          if (match?.[1] !== name) continue;
          const have = (match[2] ?? '').split(',');
          if (wanted.every((w) => have.includes(w))) return Number(match[3]);
        }
        return 0;
      },
    };
    started.push(operator);
    await vi.waitFor(
      () => {
        if (child.exitCode !== null)
          throw new Error(`operator ${identity} exited ${child.exitCode}: ${stderr}`);
        if (!lines.some((l) => l.msg === 'admin endpoints listening'))
          throw new Error(`${identity} not listening yet`);
      },
      { timeout: 15_000, interval: 50 },
    );
    return operator;
  };
}
