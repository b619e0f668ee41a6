import { randomBytes } from 'node:crypto';
import type { ApprovalRecord, ApprovalRequest, ApprovalStatement } from '@pgwarden/crds';
import type { Logger } from '../observe/log.js';
import type { ApprovalStore } from './store.js';

/** Why a decision was refused, as the approval API answers it. */
export type DecisionRefusal = { status: 403 | 404 | 409; message: string };
export type DecisionResult = { ok: true; record: ApprovalRecord } | ({ ok: false } & DecisionRefusal);

/** What the command tag of an approved statement's run says, once it finished. */
export interface ExecutionOutcome {
  commandTag: string | null;
  error: string | null;
}

/**
 * The approval requests of one sidecar and their life cycle: Pending until
 * enough approvers approve (Approved), one denies (Denied) or the timeout
 * passes (Expired); an approved statement that runs is recorded on its
 * request, and a single-use one becomes Executed. Every change is durable
 * before it is acted on.
 */
export class Approvals {
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(
    private readonly store: ApprovalStore,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  list(): ApprovalRecord[] {
    return this.store.all().map((r) => this.current(r));
  }

  get(id: string): ApprovalRecord | undefined {
    const record = this.store.get(id);
    return record && this.current(record);
  }

  /**
   * A request for `request`'s statement: the one still pending for the same
   * exact statement under the same policy (a re-run before the decision asks
   * again, it does not ask twice), else a new one, durable when this resolves.
   */
  async request(request: ApprovalRequest): Promise<ApprovalRecord> {
    const open = this.list().find(
      (r) =>
        r.status.phase === 'Pending' &&
        r.request.statement.digest === request.statement.digest &&
        r.request.policy.hash === request.policy.hash &&
        r.request.requester.clientUser === request.requester.clientUser,
    );
    if (open) return open;
    const record: ApprovalRecord = {
      id: `apr-${this.now().toString(36)}${randomBytes(4).toString('hex')}`,
      request,
      status: {
        phase: 'Pending',
        approvals: [],
        decidedBy: null,
        reason: null,
        decidedAt: null,
        validUntil: null,
        executions: [],
      },
    };
    await this.store.put(record);
    return record;
  }

  /** The approved request that lets `statement` run now in `session` under policy `policyHash`, or null. */
  covering(statement: ApprovalStatement, session: string, policyHash: string): ApprovalRecord | null {
    const now = this.now();
    for (const record of this.list()) {
      const { request, status } = record;
      if (request.policy.hash !== policyHash) continue;
      if (status.validUntil !== null && Date.parse(status.validUntil) <= now) continue;
      switch (request.scope.type) {
        case 'once':
          if (status.phase === 'Approved' && request.statement.digest === statement.digest) return record;
          break;
        case 'session':
          if (
            (status.phase === 'Approved' || status.phase === 'Executed') &&
            request.requester.session === session &&
            request.statement.fingerprint === statement.fingerprint
          )
            return record;
          break;
        case 'fingerprint':
          if (
            (status.phase === 'Approved' || status.phase === 'Executed') &&
            request.statement.fingerprint === statement.fingerprint
          )
            return record;
          break;
      }
    }
    return null;
  }

  /**
   * Records that the approved statement of `id` is being sent upstream in
   * `session`; a single-use approval is used up here, synchronously, so two
   * sessions can never both run it. Returns the execution's index.
   */
  use(id: string, session: string): number {
    const record = this.store.get(id);
    if (!record) throw new Error(`approval ${id} vanished`);
    const executions = [
      ...record.status.executions,
      { at: this.iso(), session, commandTag: null, rows: null, error: null },
    ];
    this.saveInBackground({ ...record, status: { ...record.status, phase: 'Executed', executions } });
    return executions.length - 1;
  }

  /** The result of an execution `use` recorded, from the server's CommandComplete or ErrorResponse. */
  finished(id: string, index: number, outcome: ExecutionOutcome): void {
    const record = this.store.get(id);
    const execution = record?.status.executions[index];
    if (!record || !execution) return;
    const executions = [...record.status.executions];
    executions[index] = { ...execution, ...outcome, rows: rowsOf(outcome.commandTag) };
    this.saveInBackground({ ...record, status: { ...record.status, executions } });
  }

  /**
   * An approve or deny by `by`. Refused for an unknown id (404), a request
   * no longer pending or already approved by `by` (409), a user who is not
   * an approver or is the requester (403).
   */
  async decide(id: string, approve: boolean, by: string, reason: string | null): Promise<DecisionResult> {
    const record = this.get(id);
    if (!record) return { ok: false, status: 404, message: `no approval request ${id}` };
    const { request, status } = record;
    if (status.phase !== 'Pending') {
      return { ok: false, status: 409, message: `${id} is ${status.phase}; a decided request cannot change` };
    }
    if (by === request.requester.clientUser) {
      return {
        ok: false,
        status: 403,
        message: `${by} asked for ${id} and cannot decide it: self-approval is refused`,
      };
    }
    if (request.approvers.users.length > 0 && !request.approvers.users.includes(by)) {
      return {
        ok: false,
        status: 403,
        message: `${by} is not an approver of policy "${request.policy.name}" (approvers: ${request.approvers.users.join(', ')})`,
      };
    }
    if (status.approvals.some((a) => a.by === by)) {
      return { ok: false, status: 409, message: `${by} already approved ${id}; another approver is needed` };
    }
    const at = this.iso();
    let next: ApprovalRecord;
    if (!approve) {
      next = { ...record, status: { ...status, phase: 'Denied', decidedBy: by, reason, decidedAt: at } };
    } else {
      const approvals = [...status.approvals, { by, at, reason }];
      const done = approvals.length >= request.requiredApprovals;
      next = {
        ...record,
        status: done
          ? {
              ...status,
              approvals,
              phase: 'Approved',
              decidedBy: by,
              reason,
              decidedAt: at,
              validUntil: this.validUntil(request),
            }
          : { ...status, approvals },
      };
    }
    await this.save(next);
    return { ok: true, record: next };
  }

  /**
   * Resolves with the request once it is no longer pending, or with it still
   * pending after `limitMs`; a request whose timeout passes meanwhile expires.
   */
  wait(id: string, limitMs: number): Promise<ApprovalRecord> {
    return new Promise((resolve) => {
      const record = this.get(id);
      if (!record) throw new Error(`approval ${id} vanished`);
      if (record.status.phase !== 'Pending') {
        resolve(record);
        return;
      }
      const untilExpiry = Date.parse(record.request.expiresAt) - this.now();
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        this.waiters.get(id)?.delete(wake);
        resolve(this.get(id) as ApprovalRecord);
      };
      const wake = () => {
        if (this.store.get(id)?.status.phase !== 'Pending') done();
      };
      timer = setTimeout(done, Math.max(0, Math.min(limitMs, untilExpiry)));
      const set = this.waiters.get(id) ?? new Set();
      set.add(wake);
      this.waiters.set(id, set);
    });
  }

  /** The record with a pending request past its timeout expired (and saved so). */
  private current(record: ApprovalRecord): ApprovalRecord {
    if (record.status.phase !== 'Pending' || Date.parse(record.request.expiresAt) > this.now()) return record;
    const expired: ApprovalRecord = { ...record, status: { ...record.status, phase: 'Expired' } };
    this.saveInBackground(expired);
    return expired;
  }

  private validUntil(request: ApprovalRequest): string | null {
    const { scope } = request;
    if (scope.type === 'fingerprint' && scope.durationMs !== null) {
      return new Date(this.now() + scope.durationMs).toISOString();
    }
    // An approved statement not run within the request's own timeout lapses; a session scope ends with its session.
    if (scope.type === 'once') {
      const timeoutMs = Date.parse(request.expiresAt) - Date.parse(request.createdAt);
      return new Date(this.now() + timeoutMs).toISOString();
    }
    return null;
  }

  private async save(record: ApprovalRecord): Promise<void> {
    // A held statement runs on what its waiter reads here: only once the change is durable.
    await this.store.put(record);
    for (const wake of this.waiters.get(record.id) ?? []) wake();
  }

  /** For changes already in effect in memory (a use, a result, an expiry): a failed write is logged. */
  private saveInBackground(record: ApprovalRecord): void {
    this.save(record).catch((err: unknown) =>
      this.log.error(
        { approval: record.id, err: (err as Error).message },
        'approval record could not be written',
      ),
    );
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }
}

/** Rows from a command tag: the last number of "UPDATE 3", "INSERT 0 1", "SELECT 5"; null for tags without one. */
function rowsOf(tag: string | null): number | null {
  const m = tag ? /\s(\d+)$/.exec(tag) : null;
  return m ? Number(m[1]) : null;
}
