import { performance } from 'node:perf_hooks';
import type { PostgresCluster } from '../harness/postgres.js';
import { run } from '../harness/process.js';
import { libpqEnv } from '../processes/libpq-env.js';
import { cpuSeconds, memoryBytes, resetPeakMemory } from './proc.js';
import { median, rotate } from './stats.js';
import { nameWidth, type Target } from './targets.js';

export const streamRows = 1_000_000;
const streamSql = `select i, repeat('x', 100) from generate_series(1, ${streamRows}) i`;

/** A path a result is streamed through: a benchmark target, or one only streams use (masking). */
export type StreamTarget = Pick<Target, 'endpoint' | 'middlePid'> & { readonly name: string };

export interface StreamResult {
  target: string;
  /** Median wall time of psql reading the whole result. */
  seconds: number;
  /** Peak resident set of the middle process while streaming (max over rounds). */
  middlePeakRssBytes: number | undefined;
  /** Whether the peak covers only the stream; false when the kernel kept the lifetime peak. */
  peakIsStreamOnly: boolean;
  /** Resident set of the middle process before streaming. */
  middleRssBeforeBytes: number | undefined;
  /** CPU the middle process spent per streamed result (median). */
  middleCpuSeconds: number | undefined;
}

/**
 * psql reads the 1M-row result (about 110 MB on the wire) into /dev/null through each target,
 * interleaved like the pgbench matrix. psql buffers the whole result itself, which costs the
 * same on every path; what differs is the time to get the bytes through.
 */
export async function runStream(
  cluster: PostgresCluster,
  targets: readonly StreamTarget[],
  rounds: number,
  sql: string = streamSql,
): Promise<StreamResult[]> {
  const runs = new Map<string, { seconds: number; cpu: number | undefined; peak: number | undefined }[]>();
  const before = new Map<string, number | undefined>();
  let peakIsStreamOnly = true;
  for (let round = 0; round < rounds; round++) {
    for (const target of rotate(targets, round)) {
      const pid = target.middlePid;
      if (!before.has(target.name))
        before.set(target.name, pid === undefined ? undefined : memoryBytes(pid, 'VmRSS'));
      if (pid !== undefined) peakIsStreamOnly = resetPeakMemory(pid) && peakIsStreamOnly;
      const cpuBefore = pid !== undefined ? cpuSeconds(pid) : 0;
      const seconds = await timePsql(cluster, target, sql);
      const sample = {
        seconds,
        cpu: pid !== undefined ? cpuSeconds(pid) - cpuBefore : undefined,
        peak: pid !== undefined ? memoryBytes(pid, 'VmHWM') : undefined,
      };
      runs.set(target.name, [...(runs.get(target.name) ?? []), sample]);
      process.stdout.write(
        `  stream round ${round + 1}/${rounds}  ${target.name.padEnd(nameWidth)}  ${seconds.toFixed(2)} s\n`,
      );
    }
  }
  return targets.map(({ name }) => {
    const samples = runs.get(name) ?? [];
    const cpus = samples.flatMap((s) => (s.cpu === undefined ? [] : [s.cpu]));
    const peaks = samples.flatMap((s) => (s.peak === undefined ? [] : [s.peak]));
    return {
      target: name,
      seconds: median(samples.map((s) => s.seconds)),
      middlePeakRssBytes: peaks.length ? Math.max(...peaks) : undefined,
      peakIsStreamOnly,
      middleRssBeforeBytes: before.get(name),
      middleCpuSeconds: cpus.length ? median(cpus) : undefined,
    };
  });
}

async function timePsql(cluster: PostgresCluster, target: StreamTarget, sql: string): Promise<number> {
  const { port, user } = target.endpoint;
  const started = performance.now();
  const result = await run(
    cluster.binPath('psql'),
    [
      ...['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null'],
      ...['-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', 'app', '-c', sql],
    ],
    { env: libpqEnv(target.endpoint.password), timeoutMs: 300_000 },
  );
  const seconds = (performance.now() - started) / 1000;
  if (result.code !== 0) throw new Error(`streaming through ${target.name} failed:\n${result.stderr.trim()}`);
  return seconds;
}
