import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The operator's Prometheus metrics, all named pgwarden_operator_*. */
export function operatorMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pgwarden_operator_' });
  return {
    registry,
    leader: new Gauge({
      name: 'pgwarden_operator_leader',
      help: '1 while this replica holds the leader Lease and reconciles, else 0.',
      registers: [registry],
    }),
    leaderTransitions: new Counter({
      name: 'pgwarden_operator_leader_transitions_total',
      help: 'Times this replica started or stopped leading.',
      labelNames: ['to'] as const,
      registers: [registry],
    }),
    reconciles: new Counter({
      name: 'pgwarden_operator_reconcile_total',
      help: 'Reconcile passes, by controller and result (success, error).',
      labelNames: ['controller', 'result'] as const,
      registers: [registry],
    }),
    reconcileSeconds: new Histogram({
      name: 'pgwarden_operator_reconcile_duration_seconds',
      help: 'Duration of one reconcile pass, by controller.',
      labelNames: ['controller'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}
export type OperatorMetrics = ReturnType<typeof operatorMetrics>;
