import { type ApprovalStatus, decideApproval, QUERY_APPROVAL_KIND } from '@pgwarden/crds';
import type { AdmissionVerdict, Review, Reviewer } from '../webhook/admission.js';
import { type QueryApproval, requesterUser, toRecord } from './query-approval.js';

/**
 * The mutating webhook on QueryApproval CREATE and UPDATE (object and status).
 * A human decides by writing the status subresource: one approval appended
 * to status.approvals, or status.phase Denied. The webhook takes who decides
 * from the API server's userInfo, never from what they wrote, applies the
 * decision rules (crds decideApproval) to the stored status, and replaces the
 * written status with the outcome, so nothing else a decider wrote (decidedBy,
 * times, executions) survives. The operator's own writes (creation, the
 * initial status, runs, expiry) pass; anyone else's creation is refused and the
 * spec of a request never changes.
 */
export function decisionReviewer(operatorUser: () => string | null, now: () => number = Date.now): Reviewer {
  return (request) => {
    if (request.kind?.kind !== QUERY_APPROVAL_KIND) return allow('skipped');
    const user = request.userInfo?.username ?? '';
    if (user !== '' && user === operatorUser()) return allow('allowed');
    const object = request.object as QueryApproval;
    const name = object?.metadata?.name ?? request.name ?? '';
    if (request.operation === 'CREATE') {
      return refuse(
        403,
        `QueryApprovals are created by the pgwarden operator when a sidecar holds a statement; ${user} cannot create ${name}`,
      );
    }
    if (request.operation !== 'UPDATE') return allow('allowed');
    const old = request.oldObject as QueryApproval;
    if (request.subResource !== 'status') {
      if (JSON.stringify(object.spec) !== JSON.stringify(old.spec)) {
        return refuse(
          403,
          `the spec of QueryApproval ${name} cannot change: it is the statement that was held`,
        );
      }
      return allow('allowed');
    }
    const record = toRecord(old);
    const intent = decisionIn(record.status, object.status);
    if (intent === null) {
      return refuse(
        422,
        `a QueryApproval's status changes only by a decision (one entry appended to status.approvals, or status.phase Denied); use kubectl pgwarden approve|deny ${name}`,
      );
    }
    const groups = request.userInfo?.groups ?? [];
    const decided = decideApproval(
      record,
      intent.approve,
      { user, groups },
      intent.reason,
      now(),
      requesterUser(record.request),
    );
    if (!decided.ok) return refuse(decided.status, decided.message);
    const patch = [{ op: 'add', path: '/status', value: decided.status }];
    return {
      verdict: {
        allowed: true,
        patchType: 'JSONPatch',
        patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
      },
      result: intent.approve ? 'approved' : 'denied',
    };
  };
}

/** What a written status asks for, compared with the stored one; null when it is not a decision. */
function decisionIn(
  stored: ApprovalStatus,
  written: Partial<ApprovalStatus> | undefined,
): { approve: boolean; reason: string | null } | null {
  if (written?.phase === 'Denied') return { approve: false, reason: written.reason ?? null };
  const approvals = written?.approvals ?? [];
  if (approvals.length !== stored.approvals.length + 1) return null;
  return { approve: true, reason: approvals[approvals.length - 1]?.reason ?? null };
}

function allow(result: string): Review {
  return { verdict: { allowed: true }, result };
}

const REASONS: Record<number, string> = {
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  422: 'Invalid',
};

function refuse(code: number, message: string): Review {
  const verdict: AdmissionVerdict = { allowed: false, status: { code, reason: REASONS[code], message } };
  return { verdict, result: 'refused' };
}
