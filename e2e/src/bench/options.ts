import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

export interface BenchOptions {
  /** Length of one pgbench run. */
  seconds: number;
  /** How many times every (mode, clients, target) cell is measured; the median is reported. */
  rounds: number;
  /** When set, the proxy runs under `node --cpu-prof` writing here. */
  cpuProfDir: string | undefined;
}

export const usage = `Usage: node e2e/dist/bench/main.js [--seconds N] [--rounds N] [--cpu-prof DIR]

  --seconds N     length of each pgbench run (env BENCH_SECONDS, default 8)
  --rounds N      interleaved repetitions; medians are reported (env BENCH_ROUNDS, default 3)
  --cpu-prof DIR  profile the pass-through proxy with node --cpu-prof into DIR and print its hottest
                  functions (env BENCH_CPU_PROF)
`;

/** Flags win over the environment, which wins over the defaults. */
export function readOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string' },
      rounds: { type: 'string' },
      'cpu-prof': { type: 'string' },
    },
    strict: true,
  });
  const cpuProf = values['cpu-prof'] ?? env.BENCH_CPU_PROF;
  return {
    seconds: positiveInteger('seconds', values.seconds ?? env.BENCH_SECONDS ?? '8'),
    rounds: positiveInteger('rounds', values.rounds ?? env.BENCH_ROUNDS ?? '3'),
    cpuProfDir: cpuProf ? resolve(cpuProf) : undefined,
  };
}

function positiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`--${name} must be a positive integer, not ${text}`);
  return value;
}
