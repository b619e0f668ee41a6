import { spawn } from 'node:child_process';
import type { PostgresCluster } from '../harness/postgres.js';
import { run } from '../harness/process.js';
import { libpqEnv } from '../processes/libpq-env.js';
import type { Scope } from '../processes/scope.js';

/**
 * The user psql asks for. The proxy ignores it and logs in upstream with its own configured role,
 * which the demo shows with current_user.
 */
export const clientUser = 'demo';

export function connectionUrl(proxyPort: number): string {
  return `postgresql://${clientUser}@127.0.0.1:${proxyPort}/app?sslmode=disable`;
}

function connectionArgs(proxyPort: number): string[] {
  return ['-h', '127.0.0.1', '-p', String(proxyPort), '-U', clientUser, '-d', 'app'];
}

// No password: the proxy trusts loopback clients.
const env = libpqEnv(undefined);

/** Hands the terminal to psql, connected through the proxy, until the user quits it. */
export async function interactivePsql(
  scope: Scope,
  cluster: PostgresCluster,
  proxyPort: number,
): Promise<void> {
  // Ctrl-C in psql cancels the running query; it must not end the demo under it.
  const release = scope.holdInterrupts();
  try {
    const child = spawn(cluster.binPath('psql'), connectionArgs(proxyPort), {
      stdio: 'inherit',
      env: { ...process.env, ...env },
    });
    // Only when the demo is killed from outside is psql still running at teardown.
    scope.defer('psql', () => {
      child.kill();
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (exitCode) => resolve(exitCode));
    });
    // psql exits 2 when it could not connect at all.
    if (code === 2) throw new Error('psql could not connect through the proxy');
  } finally {
    release();
  }
}

/**
 * Runs statements through the proxy in one session, echoing each before its output (errors in
 * place, as in a terminal). A refused statement does not stop the script: the caller checks the
 * output for what it expects.
 */
export async function scriptedPsql(
  cluster: PostgresCluster,
  proxyPort: number,
  statements: readonly string[],
): Promise<string> {
  const script = statements.map((sql) => `\\echo ${psqlQuote(`app=> ${sql}`)}\n${sql}\n`).join('');
  const psql = [cluster.binPath('psql'), '-X', '-P', 'pager=off', ...connectionArgs(proxyPort), '-f', '-'];
  // Through sh only to merge stderr into stdout, so each error shows under its statement.
  const result = await run('sh', ['-c', 'exec "$@" 2>&1', 'psql', ...psql], { input: script, env });
  if (result.code !== 0) {
    throw new Error(`psql through the proxy failed (${result.code ?? result.signal}):\n${result.stdout}`);
  }
  return result.stdout;
}

// A single-quoted psql meta-command argument; '' stands for a quote inside.
function psqlQuote(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}
