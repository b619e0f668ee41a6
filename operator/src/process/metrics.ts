import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry, Summary } from 'prom-client';

/** Undecided, unexpired QueryApprovals of one namespace, as of a scrape. */
export interface PendingApprovals {
  count: number;
  oldestAgeSeconds: number;
}
/** Reads the pending requests by namespace; only the leader has one (it holds the QueryApproval cache). */
export type PendingApprovalsSource = () => ReadonlyMap<string, PendingApprovals>;

/** The operator's Prometheus metrics, all named pgwarden_operator_*. */
export function operatorMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pgwarden_operator_' });
  let pendingApprovals: PendingApprovalsSource | undefined;
  // Computed at each scrape, so the age keeps growing between QueryApproval events; a standby reports no series.
  const pendingGauge = (name: string, help: string, value: (pending: PendingApprovals) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['namespace'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [namespace, pending] of pendingApprovals?.() ?? [])
          this.set({ namespace }, value(pending));
      },
    });
  return {
    registry,
    /** Lets the leader's expiry controller feed the pending-approval gauges; undefined stops them. */
    reportPendingApprovals(source: PendingApprovalsSource | undefined): void {
      pendingApprovals = source;
    },
    approvalsPending: pendingGauge(
      'pgwarden_operator_approvals_pending',
      'QueryApprovals waiting for a decision (Pending and not past expiresAt), by namespace; reported by the leader.',
      (pending) => pending.count,
    ),
    approvalOldestPendingAge: pendingGauge(
      'pgwarden_operator_approval_oldest_pending_age_seconds',
      'Age of the oldest QueryApproval waiting for a decision, by namespace; reported by the leader.',
      (pending) => pending.oldestAgeSeconds,
    ),
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
    webhookReviews: new Counter({
      name: 'pgwarden_operator_webhook_reviews_total',
      help: 'Admission reviews answered, by webhook (pods, agentaccesspolicies, queryapprovals) and result (injected, skipped, allowed, denied, approved, refused, error).',
      labelNames: ['webhook', 'result'] as const,
      registers: [registry],
    }),
    // A summary, for p50/p99 straight from one replica; the histogram below aggregates across replicas.
    webhookSeconds: new Summary({
      name: 'pgwarden_operator_webhook_duration_seconds',
      help: 'Time from receiving an AdmissionReview to answering it, by webhook (last 10 minutes).',
      labelNames: ['webhook'] as const,
      percentiles: [0.5, 0.9, 0.99],
      maxAgeSeconds: 600,
      ageBuckets: 5,
      registers: [registry],
    }),
    webhookSecondsHistogram: new Histogram({
      name: 'pgwarden_operator_webhook_duration_histogram_seconds',
      help: 'Time from receiving an AdmissionReview to answering it, by webhook.',
      labelNames: ['webhook'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    grants: new Counter({
      name: 'pgwarden_operator_grants_total',
      help: 'Answers of the grant API, by result (issued, refused) and refusal reason (none when issued).',
      labelNames: ['result', 'reason'] as const,
      registers: [registry],
    }),
    grantSeconds: new Histogram({
      name: 'pgwarden_operator_grant_request_duration_seconds',
      help: 'Time from receiving a grant request to answering it, by wait (none: answered at once; held: a long poll the operator held).',
      labelNames: ['wait'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 30, 60],
      registers: [registry],
    }),
    longPolls: new Gauge({
      name: 'pgwarden_operator_grant_long_polls',
      help: 'Grant requests held open right now, waiting for their grant to change.',
      registers: [registry],
    }),
    approvalCalls: new Counter({
      name: 'pgwarden_operator_approval_api_requests_total',
      help: 'Calls of the approval API by sidecars, by call (ask, wait, start, finish, withdraw, unknown) and HTTP status.',
      labelNames: ['call', 'status'] as const,
      registers: [registry],
    }),
    webhookCertificateExpiry: new Gauge({
      name: 'pgwarden_operator_webhook_certificate_expiry_timestamp_seconds',
      help: 'When the serving certificate of the webhook expires (Unix time).',
      registers: [registry],
    }),
  };
}
export type OperatorMetrics = ReturnType<typeof operatorMetrics>;
