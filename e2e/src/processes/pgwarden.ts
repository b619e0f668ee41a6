import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from '../harness/port.js';
import { type RunResult, run } from '../harness/process.js';
import type { Scope } from './scope.js';
import { type Service, startService } from './service.js';

// Resolves the same from e2e/src/<dir>/ and e2e/dist/<dir>/.
const cliPath = fileURLToPath(new URL('../../../sidecar/dist/cli/main.js', import.meta.url));

export interface PgwardenOptions {
  upstreamUrl: string;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** Policy file to enforce; "none" forwards every statement unchecked. */
  policy: string;
  /** Serve /metrics, /healthz, /readyz on a free port. */
  admin: boolean;
  /** Run under `node --cpu-prof`; the profile lands here when the proxy exits. */
  cpuProfDir?: string;
  /** More environment for the proxy (e.g. the masking hash key a policy names). */
  env?: Record<string, string>;
  /** Where approval requests are kept (a policy with spec.approval needs it); the API gets a free port. */
  approvalDir?: string;
}

export interface PgwardenProcess extends Service {
  /** Present when started with `admin: true`. */
  readonly adminPort: number | undefined;
  /** The approval API's port; present when started with `approvalDir`. */
  readonly approvalPort: number | undefined;
}

/** Runs the built `pgwarden proxy` as a child process on a free loopback port. */
export async function startPgwarden(scope: Scope, options: PgwardenOptions): Promise<PgwardenProcess> {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing; build first (make build)`);
  let adminPort: number | undefined;
  let approvalPort: number | undefined;
  const service = await startService(scope, 'pgwarden proxy', async (port) => {
    adminPort = options.admin ? await freePort() : undefined;
    approvalPort = options.approvalDir ? await freePort() : undefined;
    const nodeFlags = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : [];
    return {
      cmd: process.execPath,
      args: [
        ...nodeFlags,
        cliPath,
        'proxy',
        ...['--listen', `127.0.0.1:${port}`],
        ...['--admin-listen', adminPort ? `127.0.0.1:${adminPort}` : 'off'],
        ...['--log-level', options.logLevel],
        ...['--policy', options.policy],
        ...(options.approvalDir
          ? ['--approval-dir', options.approvalDir, '--approval-listen', `127.0.0.1:${approvalPort}`]
          : []),
      ],
      // Through the environment rather than argv, so the password stays out of `ps`.
      env: { ...withoutPgwardenEnv(), ...options.env, PGWARDEN_UPSTREAM: options.upstreamUrl },
      // SIGTERM drains: idle sessions close at once, and only a clean exit
      // writes the CPU profile.
      stopSignal: 'SIGTERM',
    };
  });
  return Object.assign(service, { adminPort, approvalPort });
}

/** Runs the built `pgwarden` CLI (e.g. `approvals list`) to completion. */
export function pgwardenCli(args: readonly string[]): Promise<RunResult> {
  return run(process.execPath, [cliPath, ...args], { env: withoutPgwardenEnv() });
}

// The proxy reads PGWARDEN_* as defaults for its flags; the caller's shell
// must not reconfigure the proxy being measured.
function withoutPgwardenEnv(): Record<string, undefined> {
  return Object.fromEntries(
    Object.keys(process.env)
      .filter((name) => name.startsWith('PGWARDEN_'))
      .map((name) => [name, undefined]),
  );
}
