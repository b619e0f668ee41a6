import { cachedTargetUs, type DecisionCost, decisionTiming } from './decision-cost.js';

export const decisionHeader = [
  'message',
  'statements',
  'decision',
  'uncached µs',
  'cached µs',
  'cached µs/statement',
];

export function decisionCells(costs: readonly DecisionCost[]): string[][] {
  return costs.map((c) => [
    c.label,
    String(c.statements),
    c.decision,
    c.uncachedUs.toFixed(1),
    c.cachedUs.toFixed(2),
    perStatement(c).toFixed(2),
  ]);
}

export function decisionNote(): string {
  const { warmupMs, batchMs, batches } = decisionTiming;
  return (
    `Decision cost under the bench policy, in-process, per message: median of ${batches} batches of ` +
    `~${batchMs} ms after ${warmupMs} ms warm-up. Uncached: parse + classify + decide with the analysis ` +
    'cache off (cacheCapacity 0); cached: cache hit + decide. Both decode the SQL from its bytes, as the proxy does.'
  );
}

export function decisionVerdict(costs: readonly DecisionCost[]): string {
  const worst = costs.reduce((a, b) => (perStatement(b) > perStatement(a) ? b : a));
  const met = perStatement(worst) <= cachedTargetUs;
  return (
    `Verdict: the cached decision ${met ? 'MEETS' : 'DOES NOT MEET'} the ≤ ${cachedTargetUs} µs per statement ` +
    `target (worst ${perStatement(worst).toFixed(2)} µs: ${worst.label}).`
  );
}

function perStatement(c: DecisionCost): number {
  return c.cachedUs / c.statements;
}
