import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { PostgresCluster } from '../harness/postgres.js';
import { startPgwarden } from '../processes/pgwarden.js';
import type { Scope } from '../processes/scope.js';
import { runStream, type StreamResult, type StreamTarget, streamRows } from './stream.js';

const policyPath = fileURLToPath(new URL('../../src/bench/bench-masking-policy.yaml', import.meta.url));

/** 1M rows of about 110 bytes: two masked columns and a free-text column the detectors scan. */
const tableSql = `
  CREATE TABLE masked_stream AS
    SELECT i AS id,
           'user' || i || '@example.com' AS email,
           lpad((100 + i % 600)::text, 3, '0') || '-' || lpad((10 + i % 89)::text, 2, '0') || '-' || lpad((1000 + i % 8999)::text, 4, '0') AS ssn,
           'order ' || i || ' shipped to the customer, status ok, reference ' || md5(i::text) AS note
    FROM generate_series(1, ${streamRows}) i`;
const streamSql = 'SELECT id, email, ssn, note FROM masked_stream';

export interface MaskedStreamReport {
  results: StreamResult[];
  /** Throughput of the masked path relative to the unmasked proxy (target ≥ 0.7). */
  maskedVsPassThrough: number;
  maskedVsDirect: number;
}

/**
 * Streams a table with two masked columns through direct, pgwarden without a
 * policy and pgwarden with the masking policy, interleaved like the other
 * streams; throughput ratios and peak RSS come from the same run.
 */
export async function runMaskedStream(
  scope: Scope,
  cluster: PostgresCluster,
  passThrough: StreamTarget,
  rounds: number,
): Promise<MaskedStreamReport> {
  await cluster.psql(tableSql);
  const masked = await startPgwarden(scope, {
    upstreamUrl: cluster.url('superuser', { sslmode: 'disable' }),
    logLevel: 'warn',
    admin: false,
    policy: policyPath,
    env: { PGWARDEN_BENCH_HASH_KEY: randomBytes(24).toString('base64') },
  });
  const targets: StreamTarget[] = [
    { name: 'direct', endpoint: { port: cluster.port, ...cluster.superuser }, middlePid: undefined },
    passThrough,
    {
      name: 'pgwarden+masking',
      endpoint: { port: masked.port, user: cluster.superuser.user },
      middlePid: masked.pid,
    },
  ];
  const results = await runStream(cluster, targets, rounds, streamSql);
  const seconds = (name: string) => results.find((r) => r.target === name)?.seconds ?? Number.NaN;
  return {
    results,
    maskedVsPassThrough: seconds(passThrough.name) / seconds('pgwarden+masking'),
    maskedVsDirect: seconds('direct') / seconds('pgwarden+masking'),
  };
}
