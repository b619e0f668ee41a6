import { performance } from 'node:perf_hooks';
import { median } from './stats.js';

export interface TimingPlan {
  /** Calls before measuring, so V8 has optimized the code and the caches are hot. */
  warmupMs: number;
  /** Each batch runs about this long; short batches would be dominated by the clock's resolution. */
  batchMs: number;
  batches: number;
}

/**
 * Microseconds per call of `fn`: the median over batches of each batch's mean, so a
 * garbage collection or a neighbour's burst spoils one batch instead of the result.
 * The warm-up also sizes the batches.
 */
export function microsPerCall(fn: () => unknown, plan: TimingPlan): number {
  let calls = 0;
  const warmupEnd = performance.now() + plan.warmupMs;
  let now = performance.now();
  while (now < warmupEnd) {
    keep(fn());
    calls++;
    now = performance.now();
  }
  const perCallMs = plan.warmupMs / calls;
  const iterations = Math.max(1, Math.round(plan.batchMs / perCallMs));
  const means: number[] = [];
  for (let b = 0; b < plan.batches; b++) {
    let last: unknown;
    const started = performance.now();
    for (let i = 0; i < iterations; i++) last = fn();
    means.push(((performance.now() - started) * 1000) / iterations);
    keep(last);
  }
  return median(means);
}

// Consuming the result keeps V8 from optimizing the measured call away.
function keep(result: unknown): void {
  if (result === undefined) throw new Error('the measured function returned nothing');
}
