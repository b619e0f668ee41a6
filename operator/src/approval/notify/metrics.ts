import { Counter, type Registry } from 'prom-client';

/** Metrics of approval notifications, Slack interactions and impact previews, on the operator's registry. */
export function approvalEventMetrics(registry: Registry) {
  return {
    notifications: new Counter({
      name: 'pgwarden_operator_notifications_total',
      help: 'Approval notifications by channel and result (delivered, rejected: the receiver refused it, failed: gave up after the last attempt).',
      labelNames: ['channel', 'result'] as const,
      registers: [registry],
    }),
    slackInteractions: new Counter({
      name: 'pgwarden_operator_slack_interactions_total',
      help: 'Slack button presses by channel and result (decided, refused, unmapped, bad-signature, stale, invalid, unknown-channel, error).',
      labelNames: ['channel', 'result'] as const,
      registers: [registry],
    }),
    impactPreviews: new Counter({
      name: 'pgwarden_operator_impact_previews_total',
      help: 'Impact previews by result (Previewed, Refused, Failed).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
  };
}
export type ApprovalEventMetrics = ReturnType<typeof approvalEventMetrics>;
