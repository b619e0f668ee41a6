import type { PostgresCluster } from '../harness/postgres.js';
import { type QueryMode, runPgbench } from './pgbench.js';
import { cpuSeconds } from './proc.js';
import { storedRecordingBytes } from './recording.js';
import { rotate } from './stats.js';
import { nameWidth, type Target, type TargetName } from './targets.js';

export interface Cell {
  mode: QueryMode;
  clients: number;
  threads: number;
}

export const cells: readonly Cell[] = [
  { mode: 'simple', clients: 1, threads: 1 },
  { mode: 'simple', clients: 8, threads: 2 },
  { mode: 'prepared', clients: 1, threads: 1 },
  { mode: 'prepared', clients: 8, threads: 2 },
];

export interface Sample {
  mode: QueryMode;
  clients: number;
  target: TargetName;
  round: number;
  tps: number;
  latencyMs: number;
  transactions: number;
  /** CPU the middle process spent per transaction; undefined for the direct path. */
  middleCpuUsPerTxn: number | undefined;
  /** Recording bytes (compressed chunks, as spooled and stored) per transaction; recording target only. */
  recordedBytesPerTxn?: number;
}

const warmupSeconds = 2;

/**
 * Every cell against every target, `rounds` times. Targets take turns going first (the order
 * rotates per round and per cell) so drift in the machine's load spreads over all of them
 * instead of favouring one.
 */
export async function runMatrix(
  cluster: PostgresCluster,
  targets: readonly Target[],
  { rounds, seconds }: { rounds: number; seconds: number },
): Promise<Sample[]> {
  // A freshly started proxy runs unoptimized code until V8 has seen it hot.
  for (const target of targets) {
    await runPgbench(cluster, target.endpoint, {
      mode: 'simple',
      clients: 8,
      threads: 2,
      seconds: warmupSeconds,
    });
  }
  const samples: Sample[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const [index, cell] of cells.entries()) {
      for (const target of rotate(targets, round + index)) {
        const sample = await measure(cluster, target, cell, round, seconds);
        samples.push(sample);
        process.stdout.write(`${describe(sample, rounds)}\n`);
      }
    }
  }
  return samples;
}

async function measure(
  cluster: PostgresCluster,
  target: Target,
  cell: Cell,
  round: number,
  seconds: number,
): Promise<Sample> {
  const pid = target.middlePid;
  const recorded = target.recording ? await storedRecordingBytes(target.recording) : 0;
  const cpuBefore = pid === undefined ? 0 : cpuSeconds(pid);
  const result = await runPgbench(cluster, target.endpoint, { ...cell, seconds });
  const cpu = pid === undefined ? undefined : cpuSeconds(pid) - cpuBefore;
  const recordedBytes = target.recording
    ? (await storedRecordingBytes(target.recording)) - recorded
    : undefined;
  return {
    mode: cell.mode,
    clients: cell.clients,
    target: target.name,
    round,
    ...result,
    middleCpuUsPerTxn: cpu === undefined ? undefined : (cpu * 1e6) / result.transactions,
    ...(recordedBytes === undefined ? {} : { recordedBytesPerTxn: recordedBytes / result.transactions }),
  };
}

function describe(s: Sample, rounds: number): string {
  const cpu = s.middleCpuUsPerTxn === undefined ? '' : `, ${s.middleCpuUsPerTxn.toFixed(1)} µs CPU/txn`;
  const recorded =
    s.recordedBytesPerTxn === undefined ? '' : `, ${s.recordedBytesPerTxn.toFixed(0)} recorded bytes/txn`;
  return (
    `  round ${s.round}/${rounds}  ${s.mode.padEnd(8)} ${String(s.clients).padStart(2)} clients  ` +
    `${s.target.padEnd(nameWidth)}  ${s.tps.toFixed(0).padStart(6)} tps  ${s.latencyMs.toFixed(3)} ms${cpu}${recorded}`
  );
}
