import { randomBytes } from 'node:crypto';
import type { ApprovalRecord, ApprovalStatement, CompiledApproval, CompiledPolicy } from '@pgwarden/crds';
import { parseParameterTypes } from '../record/wire-text.js';
import type { PgError } from '../wire/error-response.js';
import { MessageReader } from '../wire/reader.js';
import {
  approvalUnavailableError,
  deniedError,
  expiredError,
  pendingError,
  usedError,
  waitingNotice,
  withdrawnError,
} from './approval-errors.js';
import { type ApprovalService, ApprovalUsed } from './approval-service.js';
import { boundStatement, simpleStatement } from './statement.js';

/** Who the session's client is, as far as a standalone sidecar knows. */
export interface Requester {
  clientAddress: string | null;
  clientUser: string | null;
}

/** The rule that holds a statement. */
export interface ApprovalNeed {
  rule: string;
  message: string;
}

/** A step of a held statement's approval, as a session recording shows it. */
export interface ApprovalObservation {
  phase: 'requested' | 'approved' | 'denied' | 'expired' | 'timed-out' | 'withdrawn';
  /** The approval request's id. */
  request: string;
  approver: string | null;
  reason: string | null;
}

/** A run of an approved statement: the request it ran under and which of its executions it is. */
export interface ApprovedRun {
  id: string;
  execution: number;
}

/**
 * A statement held for a human. `settle` asks for (or finds) the approval,
 * sends the client a notice through `notify` while it waits, and resolves with
 * the run to forward, or the error to answer with instead.
 */
export interface HeldStatement {
  settle(notify: (notice: Buffer) => void): Promise<ApprovedRun | PgError>;
}

interface GatedStatement {
  sql: string;
  parameterTypes: number[];
  need: ApprovalNeed;
}

/**
 * The approvals of one client session. A simple Query is held as a whole. In
 * the extended protocol the Parse is decided but forwarded (parsing, describing
 * and binding run nothing), its statement name is remembered as gated, and the
 * Execute of a portal bound to it is held: only there are the parameters known,
 * and nothing has run yet.
 */
export class SessionApprovals {
  readonly session = `s-${randomBytes(6).toString('hex')}`;
  private readonly gated = new Map<string, GatedStatement>();
  private readonly portals = new Map<string, { statement: ApprovalStatement; need: ApprovalNeed }>();
  private readonly reader = new MessageReader();
  private readonly settings: CompiledApproval;
  /** Told each step of every approval of this session (the session recording). */
  observer: ((step: ApprovalObservation) => void) | null = null;
  /** Ends the current wait for a decision (the client's CancelRequest); null while none waits. */
  private cancelWait: (() => void) | null = null;
  /** Approved runs sent upstream whose request cycle has not ended: their outcome is reported at ReadyForQuery. */
  private readonly running: { run: ApprovedRun; commandTag: string | null; error: string | null }[] = [];

  constructor(
    private readonly approvals: ApprovalService,
    private readonly policy: CompiledPolicy,
    private readonly requester: Requester,
  ) {
    if (!policy.approval) throw new Error('SessionApprovals needs a policy with spec.approval');
    this.settings = policy.approval;
  }

  /** A simple Query the policy holds: an approved run when an approval already covers it, else the hold. */
  query(sql: string, need: ApprovalNeed): ApprovedRun | HeldStatement {
    return this.hold(simpleStatement(sql), need);
  }

  /** A Parse (buf[start, end)): gated when the policy holds its statement (`need`), else no longer gated. */
  parsed(buf: Buffer, start: number, end: number, sql: string, need: ApprovalNeed | null): void {
    const name = this.reader.reset(buf, start + 5, end).cstring();
    if (need === null) this.gated.delete(name);
    else
      this.gated.set(name, { sql, parameterTypes: parseParameterTypes(this.reader, buf, start, end), need });
  }

  bound(buf: Buffer, start: number, end: number): void {
    const r = this.reader.reset(buf, start + 5, end);
    const portal = r.cstring();
    const gated = this.gated.get(r.cstring());
    if (!gated) {
      this.portals.delete(portal);
      return;
    }
    const statement = boundStatement(gated.sql, gated.parameterTypes, buf, start, end);
    this.portals.set(portal, { statement, need: gated.need });
  }

  closed(buf: Buffer, start: number, end: number): void {
    const r = this.reader.reset(buf, start + 5, end);
    const what = r.byte();
    (what === 0x50 ? this.portals : this.gated).delete(r.cstring());
  }

  /** An Execute: null when its portal is not gated, else as for query(). */
  execute(buf: Buffer, start: number, end: number): ApprovedRun | HeldStatement | null {
    const portal = this.portals.get(this.reader.reset(buf, start + 5, end).cstring());
    return portal ? this.hold(portal.statement, portal.need) : null;
  }

  private hold(statement: ApprovalStatement, need: ApprovalNeed): ApprovedRun | HeldStatement {
    const covering = this.approvals.covering(statement, this.session, this.policy.hash);
    if (covering) {
      this.observe('approved', covering);
      const run = this.run(covering);
      return 'then' in run ? { settle: () => run } : run;
    }
    return { settle: (notify) => this.settle(statement, need, notify) };
  }

  private async settle(
    statement: ApprovalStatement,
    need: ApprovalNeed,
    notify: (notice: Buffer) => void,
  ): Promise<ApprovedRun | PgError> {
    // A cancel counts from the moment the statement is held: it may come before the request is made.
    let cancelled = false;
    let wake = () => {};
    const cancellation = new Promise<null>((resolve) => {
      wake = () => resolve(null);
    });
    this.cancelWait = () => {
      cancelled = true;
      wake();
    };
    try {
      let record: ApprovalRecord;
      try {
        record = await this.approvals.request(this.requestFor(statement, need));
      } catch (err) {
        return approvalUnavailableError((err as Error).message);
      }
      // A remote service answers with the approval that already covers the statement, if there is one.
      if (record.status.phase !== 'Pending') return this.decided(record, null);
      this.observe('requested', record);
      const { mode, limitMs } = this.settings.wait;
      if (mode === 'fail') return pendingError(record, null);
      if (!cancelled) notify(waitingNotice(record, limitMs));
      let decided: ApprovalRecord | null = null;
      try {
        if (!cancelled) decided = await Promise.race([this.approvals.wait(record.id, limitMs), cancellation]);
      } catch (err) {
        return approvalUnavailableError((err as Error).message);
      }
      if (decided === null) {
        this.approvals.withdraw(record.id);
        this.observe('withdrawn', record);
        return withdrawnError(record);
      }
      return this.decided(decided, limitMs);
    } finally {
      this.cancelWait = null;
    }
  }

  /** The client's CancelRequest: a statement waiting for a decision stops waiting, and its request is withdrawn. */
  cancel(): void {
    this.cancelWait?.();
  }

  private async decided(decided: ApprovalRecord, limitMs: number | null): Promise<ApprovedRun | PgError> {
    switch (decided.status.phase) {
      case 'Approved':
        this.observe('approved', decided);
        return this.run(decided);
      case 'Executed':
        if (decided.request.scope.type === 'once') return usedError(decided);
        this.observe('approved', decided);
        return this.run(decided);
      case 'Denied':
        this.observe('denied', decided);
        return deniedError(decided);
      case 'Expired':
        this.observe('expired', decided);
        return expiredError(decided);
      case 'Pending':
        this.observe('timed-out', decided);
        return pendingError(decided, limitMs);
    }
  }

  private observe(phase: ApprovalObservation['phase'], record: ApprovalRecord): void {
    const decided = phase === 'approved' || phase === 'denied';
    this.observer?.({
      phase,
      request: record.id,
      approver: decided ? record.status.decidedBy : null,
      reason: decided ? record.status.reason : null,
    });
  }

  /** Whether the server's answers matter now: an approved run is in flight. */
  get awaitingOutcome(): boolean {
    return this.running.length > 0;
  }

  /** A CommandComplete of the cycle an approved run is in (the last one of a multi-statement Query counts). */
  commandComplete(tag: string): void {
    for (const r of this.running) if (r.error === null) r.commandTag = tag;
  }

  /** An ErrorResponse of that cycle: the run failed. */
  errorResponse(message: string): void {
    for (const r of this.running) {
      r.commandTag = null;
      r.error ??= message;
    }
  }

  /** The cycle ended: each approved run's outcome is recorded on its request. */
  readyForQuery(): void {
    for (const { run, commandTag, error } of this.running.splice(0)) {
      this.approvals.finished(run.id, run.execution, { commandTag, error });
    }
  }

  /** Claims a run of the approved statement: at once from a local service, asynchronously from a remote one. */
  private run(record: ApprovalRecord): ApprovedRun | Promise<ApprovedRun | PgError> {
    const execution = this.approvals.use(record.id, this.session);
    if (typeof execution === 'number') return this.started({ id: record.id, execution });
    return execution.then(
      (index) => this.started({ id: record.id, execution: index }),
      (err: unknown) =>
        err instanceof ApprovalUsed ? usedError(record) : approvalUnavailableError((err as Error).message),
    );
  }

  private started(run: ApprovedRun): ApprovedRun {
    this.running.push({ run, commandTag: null, error: null });
    return run;
  }

  private requestFor(statement: ApprovalStatement, need: ApprovalNeed) {
    const now = Date.now();
    const { approvers, requiredApprovals, scope, timeoutMs } = this.settings;
    return {
      statement,
      requester: {
        ...this.requester,
        session: this.session,
        namespace: null,
        pod: null,
        serviceAccount: null,
      },
      policy: { name: this.policy.name, hash: this.policy.hash, rule: need.rule, message: need.message },
      approvers: { users: [...approvers.users], groups: [...approvers.groups] },
      requiredApprovals,
      scope: { ...scope },
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + timeoutMs).toISOString(),
    };
  }
}
