import type { PostgresCluster } from '../harness/postgres.js';
import { run } from '../harness/process.js';
import { libpqEnv } from '../processes/libpq-env.js';

/** Where pgbench connects: host is always 127.0.0.1, database `app`. */
export interface Endpoint {
  port: number;
  user: string;
  /** Absent for trust authentication. */
  password?: string;
}

export type QueryMode = 'simple' | 'prepared';

export interface PgbenchResult {
  tps: number;
  latencyMs: number;
  transactions: number;
}

/** Initializes pgbench's tables directly on the cluster. */
export async function initPgbench(cluster: PostgresCluster, scale: number): Promise<void> {
  const endpoint = { port: cluster.port, ...cluster.superuser };
  const result = await run(
    cluster.binPath('pgbench'),
    ['-i', '-q', '-s', String(scale), ...connectionArgs(endpoint)],
    { env: libpqEnv(endpoint.password), timeoutMs: 300_000 },
  );
  if (result.code !== 0) throw new Error(`pgbench -i failed:\n${result.stderr.trim()}`);
}

/** One select-only pgbench run (`-S`) for `seconds`, `clients` connections on `threads` threads. */
export async function runPgbench(
  cluster: PostgresCluster,
  endpoint: Endpoint,
  spec: { mode: QueryMode; clients: number; threads: number; seconds: number },
): Promise<PgbenchResult> {
  const args = [
    ...['-S', '-n', '-M', spec.mode],
    ...['-c', String(spec.clients), '-j', String(spec.threads), '-T', String(spec.seconds)],
    ...connectionArgs(endpoint),
  ];
  const result = await run(cluster.binPath('pgbench'), args, {
    env: libpqEnv(endpoint.password),
    timeoutMs: spec.seconds * 1000 + 60_000,
  });
  if (result.code !== 0) {
    throw new Error(
      `pgbench ${args.join(' ')} failed (${result.code ?? result.signal}):\n${result.stderr.trim()}`,
    );
  }
  return parsePgbench(result.stdout);
}

function connectionArgs(endpoint: Endpoint): string[] {
  return ['-h', '127.0.0.1', '-p', String(endpoint.port), '-U', endpoint.user, 'app'];
}

function parsePgbench(stdout: string): PgbenchResult {
  const number = (pattern: RegExp, what: string): number => {
    const match = pattern.exec(stdout);
    if (!match) throw new Error(`pgbench printed no ${what}:\n${stdout}`);
    return Number(match[1]);
  };
  return {
    tps: number(/^tps = ([\d.]+)/m, 'tps'),
    latencyMs: number(/^latency average = ([\d.]+) ms/m, 'average latency'),
    transactions: number(/^number of transactions actually processed: (\d+)/m, 'transaction count'),
  };
}
