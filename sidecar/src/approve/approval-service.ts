import type { ApprovalRecord, ApprovalRequest, ApprovalStatement } from '@pgwarden/crds';

/**
 * Where a session's held statements are asked about and decided. The
 * standalone sidecar keeps them itself (`Approvals`, a directory of fsync'd
 * requests); in Kubernetes the operator keeps them as QueryApproval objects,
 * and a client of its approval API implements this same interface. Sessions
 * (SessionApprovals) know only this.
 */
export interface ApprovalService {
  /**
   * An approval in force for exactly this statement under this policy (scope
   * once/session/fingerprint), or null. A remote service answers null and
   * lets request() answer with the covering approval instead.
   */
  covering(statement: ApprovalStatement, session: string, policyHash: string): ApprovalRecord | null;
  /** The pending request for this statement, or a new one, durable when this resolves; or an approval that covers it. */
  request(request: ApprovalRequest): Promise<ApprovalRecord>;
  /** The request once it is no longer pending, or still pending after `limitMs`. */
  wait(id: string, limitMs: number): Promise<ApprovalRecord>;
  /**
   * Records a run of the approved statement in `session` (using up a
   * single-use approval); its index. A remote service answers asynchronously
   * and rejects when another run used the approval first.
   */
  use(id: string, session: string): number | Promise<number>;
  /** The client cancelled while `id` was pending: the request goes from the queue. */
  withdraw(id: string): void;
  /** What the run `index` of `id` did: the server's command tag, or its error. */
  finished(id: string, index: number, outcome: { commandTag: string | null; error: string | null }): void;
}

/** A remote use() refused because another run used the single-use approval first. */
export class ApprovalUsed extends Error {}
