import type { ApprovalRecord } from '@pgwarden/crds';
import { BackendCode } from '../wire/codes.js';
import { encodeErrorResponse, PgError } from '../wire/error-response.js';

/**
 * What a client whose statement waits for a human is told. Every message
 * carries the approval id, so the agent can say what it waits for and a human
 * can find the request. Refusals are SQLSTATE 42501, as any policy refusal.
 */

/** How a human decides: kubectl pgwarden for a QueryApproval (the request names a namespace), else the standalone CLI. */
function commands(record: ApprovalRecord): string {
  const { id } = record;
  const namespace = record.request.requester.namespace;
  if (namespace !== null) {
    return `kubectl pgwarden show ${id} -n ${namespace}; kubectl pgwarden approve ${id} -n ${namespace} [--reason TEXT] or deny ${id} -n ${namespace} [--reason TEXT]`;
  }
  return `pgwarden approvals show ${id}; pgwarden approvals approve ${id} [--reason TEXT] or deny ${id} [--reason TEXT]`;
}

function ruleText(record: ApprovalRecord): string {
  const { rule, message } = record.request.policy;
  return `rule "${rule}"${message ? `: ${message}` : ''}`;
}

/** The NoticeResponse sent when a statement starts to wait. */
export function waitingNotice(record: ApprovalRecord, limitMs: number): Buffer {
  return encodeErrorResponse(
    {
      severity: 'NOTICE',
      code: '00000',
      message: `pgwarden: statement held for approval ${record.id} by ${ruleText(record)}; waiting up to ${seconds(limitMs)} for a human`,
      detail: `The statement runs as soon as ${record.request.requiredApprovals === 1 ? 'an approver approves' : `${record.request.requiredApprovals} approvers approve`}; it is refused if denied.`,
      hint: commands(record),
    },
    BackendCode.NoticeResponse,
  );
}

/** Still pending: the wait limit passed (or the policy's wait mode is fail). */
export function pendingError(record: ApprovalRecord, waitedMs: number | null): PgError {
  return new PgError({
    severity: 'ERROR',
    code: '42501',
    message: `pgwarden: statement needs approval ${record.id} by ${ruleText(record)}${waitedMs === null ? '' : `; still pending after ${seconds(waitedMs)}`}`,
    detail: `The statement was not run. Once ${record.id} is approved, run the identical statement again: it runs${record.request.scope.type === 'once' ? ' once' : ''}.`,
    hint: commands(record),
  });
}

export function deniedError(record: ApprovalRecord): PgError {
  const { decidedBy, reason } = record.status;
  return new PgError({
    severity: 'ERROR',
    code: '42501',
    message: `pgwarden: approval ${record.id} denied by ${decidedBy ?? 'an approver'}${reason ? `: ${reason}` : ''}`,
    detail: `The statement was not run (${ruleText(record)}).`,
    hint: 'Change the statement, or ask the approver.',
  });
}

/** The client's CancelRequest while the statement waited: the request is withdrawn. */
export function withdrawnError(record: ApprovalRecord): PgError {
  return new PgError({
    severity: 'ERROR',
    code: '57014',
    message: `pgwarden: canceling statement due to user request; approval ${record.id} withdrawn`,
    detail: `The statement was not run (${ruleText(record)}).`,
    hint: 'Running the statement again asks for a new approval.',
  });
}

export function expiredError(record: ApprovalRecord): PgError {
  return new PgError({
    severity: 'ERROR',
    code: '42501',
    message: `pgwarden: approval ${record.id} expired undecided`,
    detail: `The statement was not run (${ruleText(record)}).`,
    hint: 'Running the statement again asks for a new approval.',
  });
}

/** A single-use approval another run used between its approval and this statement's turn. */
export function usedError(record: ApprovalRecord): PgError {
  return new PgError({
    severity: 'ERROR',
    code: '42501',
    message: `pgwarden: approval ${record.id} was already used to run the statement once`,
    hint: 'Running the statement again asks for a new approval.',
  });
}

export function approvalUnavailableError(reason: string): PgError {
  return new PgError({
    severity: 'ERROR',
    code: '42501',
    message: `pgwarden: statement needs approval, but the approval request could not be stored: ${reason}`,
    hint: 'The statement was not run. Standalone, check the sidecar’s --approval-dir; in Kubernetes, the operator’s approval API (the sidecar’s log says why).',
  });
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
