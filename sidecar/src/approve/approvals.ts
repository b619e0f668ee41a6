import { randomBytes } from 'node:crypto';
import {
  type ApprovalRecord,
  type ApprovalRequest,
  type ApprovalStatement,
  coveringApproval,
  currentRecord,
  type DecisionRefusal,
  decideApproval,
  newApprovalId,
  openRequest,
  pendingStatus,
  rowsOfCommandTag,
} from '@pgwarden/crds';
import type { Logger } from '../observe/log.js';
import type { ApprovalStore } from './store.js';

/** A decision as the approval API answers it: the record decided, or why not. */
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
    const open = openRequest(this.list(), request, this.now());
    if (open) return open;
    const record: ApprovalRecord = {
      id: newApprovalId(this.now(), randomBytes(4)),
      request,
      status: pendingStatus(),
    };
    await this.store.put(record);
    return record;
  }

  /** The approved request that lets `statement` run now in `session` under policy `policyHash`, or null. */
  covering(statement: ApprovalStatement, session: string, policyHash: string): ApprovalRecord | null {
    return coveringApproval(this.list(), statement, session, policyHash, this.now());
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
    executions[index] = { ...execution, ...outcome, rows: rowsOfCommandTag(outcome.commandTag) };
    this.saveInBackground({ ...record, status: { ...record.status, executions } });
  }

  /** The client gave up while the request was pending: it goes, as if never asked. */
  withdraw(id: string): void {
    if (this.store.get(id)?.status.phase !== 'Pending') return;
    this.store
      .remove(id)
      .catch((err: unknown) =>
        this.log.error({ approval: id, err: (err as Error).message }, 'approval record could not be removed'),
      );
  }

  /**
   * An approve or deny by `by`, by the rules of {@link decideApproval}; the
   * requester it refuses is the client user of the held statement's session.
   */
  async decide(id: string, approve: boolean, by: string, reason: string | null): Promise<DecisionResult> {
    const record = this.get(id);
    if (!record) return { ok: false, status: 404, message: `no approval request ${id}` };
    const approver = { user: by, groups: [] };
    const decided = decideApproval(
      record,
      approve,
      approver,
      reason,
      this.now(),
      record.request.requester.clientUser,
    );
    if (!decided.ok) return decided;
    const next = { ...record, status: decided.status };
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
    const current = currentRecord(record, this.now());
    if (current !== record) this.saveInBackground(current);
    return current;
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
