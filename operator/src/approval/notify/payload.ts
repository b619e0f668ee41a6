import {
  API_GROUP,
  API_VERSION,
  type ApprovalNotification,
  type ApprovalRequest,
  type ApprovalRequestPhase,
  type ApprovalStatus,
  type NotificationEvent,
  pendingStatus,
} from '@pgwarden/crds';

/** A QueryApproval as the watch delivers it; the status is absent until the operator wrote the first one. */
export interface WatchedApproval {
  metadata: { name: string; namespace: string; uid?: string; resourceVersion?: string };
  spec: ApprovalRequest;
  status?: ApprovalStatus;
}

export const phaseOf = (approval: WatchedApproval): ApprovalRequestPhase =>
  approval.status?.phase ?? 'Pending';

/** The same key for every delivery of one event, whichever replica sends it and however often. */
export function idempotencyKey(approval: WatchedApproval, event: NotificationEvent): string {
  const { uid, namespace, name } = approval.metadata;
  return `${uid ?? `${namespace}/${name}`}:${event}`;
}

/** When the approval reached its phase: what a new leader compares with the notification window. */
export function phaseReachedAt(approval: WatchedApproval): number {
  const status = approval.status ?? pendingStatus();
  switch (status.phase) {
    case 'Pending':
      return Date.parse(approval.spec.createdAt);
    case 'Expired':
      return Date.parse(approval.spec.expiresAt);
    case 'Executed':
      return Date.parse(status.executions.at(-1)?.at ?? status.decidedAt ?? approval.spec.createdAt);
    default:
      return Date.parse(status.decidedAt ?? approval.spec.createdAt);
  }
}

/** kubectl commands for the request, as the kubectl-pgwarden plugin takes them. */
export function kubectlCommands(approval: WatchedApproval): ApprovalNotification['commands'] {
  const { name, namespace } = approval.metadata;
  const target = `${name} -n ${namespace}`;
  return {
    show: `kubectl pgwarden show ${target}`,
    approve: `kubectl pgwarden approve ${target} --reason "…"`,
    deny: `kubectl pgwarden deny ${target} --reason "…"`,
  };
}

/** The webhook body for an event of the approval: by default its current phase. */
export function approvalNotification(
  approval: WatchedApproval,
  event: NotificationEvent = phaseOf(approval),
): ApprovalNotification {
  const { spec } = approval;
  const status = approval.status ?? pendingStatus();
  const last = status.executions.at(-1);
  return {
    apiVersion: `${API_GROUP}/${API_VERSION}`,
    kind: 'ApprovalNotification',
    event,
    idempotencyKey: idempotencyKey(approval, event),
    approval: {
      name: approval.metadata.name,
      namespace: approval.metadata.namespace,
      phase: status.phase,
      statement: {
        text: spec.statement.text,
        parameters: spec.statement.parameters,
        fingerprint: spec.statement.fingerprint,
      },
      requester: {
        namespace: spec.requester.namespace,
        pod: spec.requester.pod,
        serviceAccount: spec.requester.serviceAccount,
        clientUser: spec.requester.clientUser,
      },
      policy: { name: spec.policy.name, rule: spec.policy.rule, message: spec.policy.message },
      requiredApprovals: spec.requiredApprovals,
      approvedBy: status.approvals.map((a) => a.by),
      decidedBy: status.decidedBy,
      reason: status.reason,
      createdAt: spec.createdAt,
      expiresAt: spec.expiresAt,
      decidedAt: status.decidedAt,
      execution: last
        ? { at: last.at, commandTag: last.commandTag, rows: last.rows, error: last.error }
        : null,
      impact: status.impact ?? null,
    },
    commands: kubectlCommands(approval),
  };
}
