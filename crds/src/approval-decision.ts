import type { ApprovalRecord, ApprovalRequest, ApprovalStatement, ApprovalStatus } from './approval.js';

/** Who decides, as the approval API established it: standalone the OS user (no groups), in Kubernetes the API server's userInfo. */
export interface Approver {
  user: string;
  groups: readonly string[];
}

/** Why a decision was refused: 403 not allowed to decide, 404 no such request, 409 no longer decidable. */
export type DecisionRefusal = { status: 403 | 404 | 409; message: string };
export type DecisionResult = { ok: true; status: ApprovalStatus } | ({ ok: false } & DecisionRefusal);

/** The status of a request nobody has decided yet. */
export function pendingStatus(): ApprovalStatus {
  return {
    phase: 'Pending',
    approvals: [],
    decidedBy: null,
    reason: null,
    decidedAt: null,
    validUntil: null,
    executions: [],
  };
}

/**
 * An approve or deny of `record` by `approver` at `now`: the next status, or
 * why it is refused. Shared by the standalone approval API and the operator's
 * admission webhook, so both enforce the same rules: a decided (or expired)
 * request never changes; the requester never decides (`requesterIdentity`:
 * the client user standalone, the agent's service account in Kubernetes);
 * only the policy's approvers decide (none listed: anyone the API lets in);
 * requiredApprovals distinct approvers approve, and one denial denies.
 */
export function decideApproval(
  record: ApprovalRecord,
  approve: boolean,
  approver: Approver,
  reason: string | null,
  now: number,
  requesterIdentity: string | null,
): DecisionResult {
  const { id, request, status } = record;
  const by = approver.user;
  if (status.phase !== 'Pending') {
    return { ok: false, status: 409, message: `${id} is ${status.phase}; a decided request cannot change` };
  }
  if (Date.parse(request.expiresAt) <= now) {
    return {
      ok: false,
      status: 409,
      message: `${id} expired at ${request.expiresAt}; a decided request cannot change`,
    };
  }
  if (requesterIdentity !== null && by === requesterIdentity) {
    return {
      ok: false,
      status: 403,
      message: `${by} asked for ${id} and cannot decide it: self-approval is refused`,
    };
  }
  const { users, groups } = request.approvers;
  const listed = users.includes(by) || approver.groups.some((g) => groups.includes(g));
  if ((users.length > 0 || groups.length > 0) && !listed) {
    return {
      ok: false,
      status: 403,
      message: `${by} is not an approver of policy "${request.policy.name}" (approvers: ${describeApprovers(users, groups)})`,
    };
  }
  if (status.approvals.some((a) => a.by === by)) {
    return { ok: false, status: 409, message: `${by} already approved ${id}; another approver is needed` };
  }
  const at = new Date(now).toISOString();
  if (!approve) {
    return { ok: true, status: { ...status, phase: 'Denied', decidedBy: by, reason, decidedAt: at } };
  }
  const approvals = [...status.approvals, { by, at, reason }];
  if (approvals.length < request.requiredApprovals) return { ok: true, status: { ...status, approvals } };
  return {
    ok: true,
    status: {
      ...status,
      approvals,
      phase: 'Approved',
      decidedBy: by,
      reason,
      decidedAt: at,
      validUntil: validUntil(request, now),
    },
  };
}

function describeApprovers(users: readonly string[], groups: readonly string[]): string {
  return [
    users.length > 0 ? `users ${users.join(', ')}` : '',
    groups.length > 0 ? `groups ${groups.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
}

function validUntil(request: ApprovalRequest, now: number): string | null {
  const { scope } = request;
  if (scope.type === 'fingerprint' && scope.durationMs !== null) {
    return new Date(now + scope.durationMs).toISOString();
  }
  // An approved statement not run within the request's own timeout lapses; a session scope ends with its session.
  if (scope.type === 'once') {
    const timeoutMs = Date.parse(request.expiresAt) - Date.parse(request.createdAt);
    return new Date(now + timeoutMs).toISOString();
  }
  return null;
}

/** Rows from a command tag: the last number of "UPDATE 3", "INSERT 0 1", "SELECT 5"; null for tags without one. */
export function rowsOfCommandTag(tag: string | null): number | null {
  const m = tag ? /\s(\d+)$/.exec(tag) : null;
  return m ? Number(m[1]) : null;
}

/**
 * The approved request that lets `statement` run now in `session` under the
 * policy with `policyHash`, among `records` (current: a pending one past its
 * timeout counts as expired), or null. once: the exact statement, while
 * Approved; session: the same fingerprint in the session that asked;
 * fingerprint: the same fingerprint anywhere, until validUntil.
 */
export function coveringApproval(
  records: Iterable<ApprovalRecord>,
  statement: ApprovalStatement,
  session: string,
  policyHash: string,
  now: number,
): ApprovalRecord | null {
  for (const record of records) {
    const { request, status } = record;
    if (request.policy.hash !== policyHash) continue;
    if (status.validUntil !== null && Date.parse(status.validUntil) <= now) continue;
    const approved = status.phase === 'Approved';
    const ran = approved || status.phase === 'Executed';
    switch (request.scope.type) {
      case 'once':
        if (approved && request.statement.digest === statement.digest) return record;
        break;
      case 'session':
        if (
          ran &&
          request.requester.session === session &&
          request.statement.fingerprint === statement.fingerprint
        )
          return record;
        break;
      case 'fingerprint':
        if (ran && request.statement.fingerprint === statement.fingerprint) return record;
        break;
    }
  }
  return null;
}

/**
 * The request still pending for the same exact statement, under the same
 * policy, from the same client (user, and pod in Kubernetes): a re-run before
 * the decision asks again, it does not ask twice.
 */
export function openRequest(
  records: Iterable<ApprovalRecord>,
  request: ApprovalRequest,
  now: number,
): ApprovalRecord | null {
  for (const record of records) {
    const { request: r, status } = record;
    if (
      status.phase === 'Pending' &&
      Date.parse(r.expiresAt) > now &&
      r.statement.digest === request.statement.digest &&
      r.policy.hash === request.policy.hash &&
      r.requester.clientUser === request.requester.clientUser &&
      r.requester.pod === request.requester.pod
    )
      return record;
  }
  return null;
}

/** The record as of `now`: a pending request past its expiresAt is Expired, whether or not that was written yet. */
export function currentRecord(record: ApprovalRecord, now: number): ApprovalRecord {
  if (record.status.phase !== 'Pending' || Date.parse(record.request.expiresAt) > now) return record;
  return { ...record, status: { ...record.status, phase: 'Expired' } };
}

/** A new request id: time, then randomness (the caller's bytes, as hex), a DNS-1123 label as QueryApproval names need. */
export function newApprovalId(now: number, random: Uint8Array): string {
  return `apr-${now.toString(36)}${Buffer.from(random).toString('hex')}`;
}
