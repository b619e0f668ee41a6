import { type Analysis, BLANK_FACTS, type StatementFacts } from '../analyze/facts.js';
import type {
  ApprovalNeed,
  ApprovedRun,
  HeldStatement,
  SessionApprovals,
} from '../approve/session-approvals.js';
import { type MaskRefusalRule, type MaskVerdict, NO_MASKS } from '../mask/resolve.js';
import type { AllowedStatement } from '../mask/result-masking.js';
import type { Logger } from '../observe/log.js';
import { PgError } from '../wire/error-response.js';
import { MessageReader, ProtocolViolation } from '../wire/reader.js';
import type { RateLimiter } from './rate-limit.js';
import {
  functionCallError,
  parseError,
  rateLimitError,
  refusalError,
  unclassifiedError,
  unknownPreparedError,
} from './refusals.js';
import type { ErrorSubstitution } from './substitution.js';

/** The policy engine as the gate uses it (implemented in decide/). */
export interface StatementJudge {
  decide(facts: StatementFacts): Verdict;
  decideMessage(statements: readonly StatementFacts[]): Verdict;
}

interface Verdict {
  outcome: 'allow' | 'deny' | 'approve';
  rule: string;
  message: string;
}

export interface GateDeps {
  analyze(sql: string): Analysis;
  judge: StatementJudge;
  limiter: RateLimiter | null;
  queriesPerMinute: number;
  log: Logger;
  /** Counts each decided message. */
  decided(outcome: 'allow' | 'deny' | 'approve', rule: string): void;
  /** "schema.name" of a function by OID (FunctionCall messages); null when unknown or the lookup failed. */
  functionName(oid: number): Promise<string | null>;
  /** The policy's masking, which may refuse statements the rules allowed; null when nothing is masked. */
  masking: MaskingCheck | null;
  /** Human approval of held statements; null when the policy has no spec.approval (they are refused). */
  approvals: SessionApprovals | null;
}

/**
 * A message that waits for a human: the relay holds it, and everything the
 * client sends after it, until `settle` resolves with its stand-in (refused)
 * or null (approved: forward it).
 */
export interface HeldMessage {
  settle(notify: (notice: Buffer) => void): Promise<Buffer | null>;
}

/** A statement the rules hold for approval and that may run once approved. */
interface Approvable {
  need: ApprovalNeed;
  masks: AllowedStatement[];
  statements: StatementFacts[];
}

/** Resolves a statement's use of masked columns (mask/resolve.ts against the session's catalog). */
export type MaskingCheck = (facts: StatementFacts) => MaskVerdict;

/** How the gate decided the last message it judged, as a session recording shows it. */
export interface GateDecision {
  outcome: 'allow' | 'deny' | 'approve';
  rule: string;
  /** What the agent was told (deny, approve); null when allowed. */
  message: string | null;
  /** The facts of every statement judged; empty when the SQL could not be analysed. */
  facts: readonly StatementFacts[];
}

/**
 * Decides every statement-carrying client message of one session before a byte
 * of it goes upstream. Returns null to forward the message unchanged, or the
 * stand-in to send instead (see ErrorSubstitution).
 */
export class StatementGate {
  /** SQL-level PREPAREd statements of this session: EXECUTE is decided as what it executes. */
  private readonly prepared = new Map<string, StatementFacts>();
  private readonly reader = new MessageReader();
  /** Names the stand-ins of held Executes that were refused. */
  private approvalStandIns = 0;
  /** The statements of the last Query or Parse the gate allowed, with their masks; empty after a refusal. */
  allowed: readonly AllowedStatement[] = [];
  /** The decision on the last Query, Parse, Execute or FunctionCall; null for an Execute that only ran what its Parse decided. */
  lastDecision: GateDecision | null = null;
  /** The last message must wait for a human (taken by the relay); null when it need not. */
  private held: HeldMessage | null = null;
  /** The approval the last forwarded statement runs under; null when it needed none. */
  approved: ApprovedRun | null = null;

  constructor(
    private readonly deps: GateDeps,
    private readonly substitution: ErrorSubstitution,
  ) {}

  /** Whether the session has SQL-level PREPAREd statements, decided by this gate's policy when prepared. */
  get holdsPrepared(): boolean {
    return this.prepared.size > 0;
  }

  onQuery(buf: Buffer, start: number, end: number): Buffer | null {
    this.allowed = [];
    this.lastDecision = null;
    this.approved = null;
    const limited = this.rateLimited();
    if (limited) return this.substitution.standInQuery(limited);
    const r = this.reader.reset(buf, start + 5, end);
    const sql = r.cstring();
    // PostgreSQL rejects bytes after the string too; refusing here keeps what was judged and what runs identical.
    if (r.remaining !== 0) throw new ProtocolViolation('Query message has bytes after its query string');
    const judged = this.judge(sql);
    if (judged instanceof PgError) return this.substitution.standInQuery(judged);
    if (judged !== null) {
      const run = (this.deps.approvals as SessionApprovals).query(sql, judged.need);
      return this.heldOrRun(
        judged,
        run,
        (error) => this.substitution.standInQuery(error),
        () => this.substitution.countReadyProducer(),
      );
    }
    this.substitution.countReadyProducer();
    return null;
  }

  /** The message that waits for a human, if the last one does; the relay holds it. */
  takeHeld(): HeldMessage | null {
    const held = this.held;
    this.held = null;
    return held;
  }

  onParse(buf: Buffer, start: number, end: number): Buffer | null {
    this.allowed = [];
    this.lastDecision = null;
    const r = this.reader.reset(buf, start + 5, end);
    const name = r.cstring();
    const sql = r.cstring();
    const parameterTypes = r.int16();
    if (parameterTypes < 0 || r.remaining !== 4 * parameterTypes) {
      throw new ProtocolViolation('Parse message length does not match its fields');
    }
    const judged = this.judge(sql);
    // A Parse the rules hold is forwarded: parsing runs nothing; the Execute of a portal bound to it waits.
    this.deps.approvals?.parsed(
      buf,
      start,
      end,
      sql,
      judged instanceof PgError ? null : (judged?.need ?? null),
    );
    if (judged instanceof PgError) return this.substitution.standInParse(name, judged);
    if (judged !== null) this.accept(judged);
    return null;
  }

  onBind(buf: Buffer, start: number, end: number): void {
    this.deps.approvals?.bound(buf, start, end);
  }

  onClose(buf: Buffer, start: number, end: number): void {
    this.deps.approvals?.closed(buf, start, end);
  }

  /**
   * Execute runs what its Parse already had decided: only the rate limit
   * applies, and a portal of a statement the rules hold waits for a human.
   */
  onExecute(buf: Buffer, start: number, end: number): Buffer | null {
    this.lastDecision = null;
    this.approved = null;
    const limited = this.rateLimited();
    if (limited) return this.substitution.standInParse(`pgwarden_limit_${Date.now()}`, limited);
    const run = this.deps.approvals?.execute(buf, start, end) ?? null;
    if (run === null) return null;
    return this.heldOrRun(
      null,
      run,
      (error) => this.substitution.standInParse(`pgwarden_approval_${++this.approvalStandIns}`, error),
      () => {},
    );
  }

  onSync(): void {
    this.substitution.countReadyProducer();
  }

  /**
   * FunctionCall names its function by OID, so deciding it takes a catalog
   * lookup; the relay holds everything the client sends after it until this
   * settles. It is judged as `SELECT schema.function(…)` would be.
   */
  async onFunctionCall(buf: Buffer, start: number, end: number): Promise<Buffer | null> {
    this.lastDecision = null;
    const limited = this.rateLimited();
    if (limited) return this.substitution.standInQuery(limited);
    const oid = this.reader.reset(buf, start + 5, end).int32() >>> 0;
    const name = await this.deps.functionName(oid);
    if (name === null) {
      const error = functionCallError(oid);
      this.decidedAs('deny', 'function-call-protocol', error.message, []);
      return this.substitution.standInQuery(error);
    }
    const facts = functionCallFacts(name);
    const decision = this.deps.judge.decideMessage([facts]);
    this.deps.decided(decision.outcome, decision.rule);
    this.decidedAs(decision.outcome, decision.rule, decision.message, [facts]);
    if (decision.outcome === 'allow') {
      this.substitution.countReadyProducer();
      return null;
    }
    this.deps.log.info(
      { rule: decision.rule, outcome: decision.outcome, function: name },
      'FunctionCall refused',
    );
    return this.substitution.standInQuery(
      refusalError({ outcome: decision.outcome, rule: decision.rule, message: decision.message }, facts),
    );
  }

  /**
   * An approved run goes ahead at once; a held message waits for the decision
   * and then goes ahead (`forwarded` does the bookkeeping of a forwarded
   * message) or is replaced by its `standIn`.
   */
  private heldOrRun(
    approvable: Approvable | null,
    run: ApprovedRun | HeldStatement,
    standIn: (error: PgError) => Buffer,
    forwarded: () => void,
  ): null {
    if (!('settle' in run)) {
      if (approvable) this.accept(approvable);
      this.approved = run;
      forwarded();
      return null;
    }
    const decision = this.lastDecision;
    if (approvable) this.allowed = approvable.masks;
    this.held = {
      settle: async (notify) => {
        const outcome = await run.settle(notify);
        if (outcome instanceof PgError) {
          this.allowed = [];
          if (decision) this.lastDecision = { ...decision, message: outcome.message };
          this.deps.log.info({ rule: decision?.rule, reason: outcome.message }, 'held statement refused');
          return standIn(outcome);
        }
        if (approvable) this.accept(approvable);
        this.approved = outcome;
        forwarded();
        return null;
      },
    };
    return null;
  }

  /** A statement held for approval that runs: its masks apply, its PREPAREs count. */
  private accept(approvable: Approvable): void {
    this.allowed = approvable.masks;
    this.remember(approvable.statements);
  }

  /**
   * The error to answer with; null when every statement of the SQL is allowed;
   * what needs approval when the rules hold it and the policy lets humans
   * approve.
   */
  private judge(sql: string): PgError | Approvable | null {
    const analysis = this.deps.analyze(sql);
    if (!analysis.ok) {
      const { reason, message, position } = analysis.error;
      this.decidedAs('deny', reason === 'parse' ? 'parse-error' : 'unclassified-statement', message, []);
      return reason === 'parse' ? parseError(message, position) : unclassifiedError(message);
    }
    const facts: StatementFacts[] = [];
    const perStatement: StatementFacts[][] = [];
    // PREPAREs earlier in the same message count for the EXECUTEs after them; they are
    // remembered for the session only once the whole message is allowed.
    let preparedHere: Map<string, StatementFacts> | null = null;
    for (const { facts: f } of analysis.statements) {
      const judged = this.withPrepared(f, preparedHere);
      if (judged === undefined) {
        const error = unknownPreparedError(f.refersTo?.name ?? '');
        this.decidedAs('deny', 'unknown-prepared-statement', error.message, [f]);
        return error;
      }
      facts.push(...judged);
      perStatement.push(judged);
      if (f.defines?.kind === 'prepared' && f.inner) {
        preparedHere ??= new Map();
        preparedHere.set(f.defines.name, f.inner);
      }
    }
    const decision = this.deps.judge.decideMessage(facts);
    this.deps.decided(decision.outcome, decision.rule);
    this.decidedAs(decision.outcome, decision.rule, decision.message, facts);
    const approvable = decision.outcome === 'approve' && this.deps.approvals !== null;
    if (decision.outcome === 'allow' || approvable) {
      const masked = this.masked(perStatement);
      if (masked instanceof PgError) return masked;
      const statements = analysis.statements.map((s) => s.facts);
      if (approvable) {
        return { need: { rule: decision.rule, message: decision.message }, masks: masked, statements };
      }
      this.allowed = masked;
      this.remember(statements);
      return null;
    }
    const culprit = facts.find((f) => this.deps.judge.decide(f).rule === decision.rule) ?? null;
    this.deps.log.info(
      { rule: decision.rule, outcome: decision.outcome, kind: culprit?.kind },
      'statement refused',
    );
    return refusalError(
      { outcome: decision.outcome, rule: decision.rule, message: decision.message },
      culprit,
    );
  }

  /**
   * The masks of each allowed statement's result, or the refusal when one uses
   * masked columns where no rewrite of the result can reach. A statement that
   * stores what a prepared statement returns (CREATE TABLE … AS EXECUTE p)
   * stores masked data if p returns any.
   */
  private masked(perStatement: readonly StatementFacts[][]): AllowedStatement[] | PgError {
    const check = this.deps.masking;
    const allowed: AllowedStatement[] = [];
    for (const judged of perStatement) {
      // EXECUTE p is judged as p itself; EXPLAIN EXECUTE p, CREATE TABLE … AS EXECUTE p as [itself, p].
      const own = judged[0] as StatementFacts;
      if (!check) {
        allowed.push({ facts: own, masks: NO_MASKS, innerMasks: null });
        continue;
      }
      const verdicts = judged.map(check);
      if (own.kind === 'ddl' && judged.length > 1) {
        const stored = verdicts[1];
        if (stored?.ok && (stored.masks.outputs?.some((o) => o !== null) || stored.masks.conservative)) {
          return this.maskingRefusal({ ok: false, rule: 'masking-write', column: 'a masked column' }, own);
        }
      }
      const refused = verdicts.find((v) => !v.ok);
      if (refused && !refused.ok) return this.maskingRefusal(refused, own);
      const inner = own.inner && own.defines?.kind === 'cursor' ? check(own.inner) : null;
      if (inner && !inner.ok) return this.maskingRefusal(inner, own);
      const result = verdicts[0];
      allowed.push({
        facts: own,
        masks: result?.ok ? result.masks : NO_MASKS,
        innerMasks: inner?.ok ? inner.masks : null,
      });
    }
    return allowed;
  }

  private maskingRefusal(verdict: Extract<MaskVerdict, { ok: false }>, facts: StatementFacts): PgError {
    this.deps.decided('deny', verdict.rule);
    this.decidedAs('deny', verdict.rule, MASKING_MESSAGES[verdict.rule](verdict.column), [facts]);
    this.deps.log.info({ rule: verdict.rule, kind: facts.kind }, 'statement refused by masking');
    return refusalError(
      { outcome: 'deny', rule: verdict.rule, message: MASKING_MESSAGES[verdict.rule](verdict.column) },
      facts,
    );
  }

  /**
   * What to judge for a statement that runs a SQL-level prepared statement:
   * EXECUTE p(args) is judged as what p prepared, plus the functions its
   * arguments call; EXPLAIN ANALYZE EXECUTE p, CREATE TABLE … AS EXECUTE p and
   * the like are judged as themselves and as p. Undefined when p was never
   * prepared through pgwarden.
   */
  private withPrepared(
    f: StatementFacts,
    preparedHere: Map<string, StatementFacts> | null,
  ): StatementFacts[] | undefined {
    const ref = f.refersTo;
    if (ref?.kind !== 'prepared' || f.nodeType === 'DeallocateStmt') return [f];
    const prepared =
      ref.name === null ? undefined : (preparedHere?.get(ref.name) ?? this.prepared.get(ref.name));
    if (prepared === undefined) return undefined;
    if (f.nodeType === 'ExecuteStmt') {
      const functions = [...new Set([...prepared.functions, ...f.functions])].sort();
      return [{ ...prepared, functions }];
    }
    return [f, prepared];
  }

  private remember(facts: StatementFacts[]): void {
    for (const f of facts) {
      if (f.defines?.kind === 'prepared' && f.inner) this.prepared.set(f.defines.name, f.inner);
      else if (f.nodeType === 'DeallocateStmt') {
        if (f.refersTo?.name) this.prepared.delete(f.refersTo.name);
        else this.prepared.clear();
      }
    }
  }

  private rateLimited(): PgError | null {
    const wait = this.deps.limiter?.take() ?? 0;
    if (wait <= 0) return null;
    const error = rateLimitError(this.deps.queriesPerMinute, wait);
    this.decidedAs('deny', 'queries-per-minute', error.message, []);
    return error;
  }

  private decidedAs(
    outcome: GateDecision['outcome'],
    rule: string,
    message: string,
    facts: readonly StatementFacts[],
  ): void {
    this.lastDecision = { outcome, rule, message: outcome === 'allow' ? null : message, facts };
  }
}

const MASKING_MESSAGES: Record<MaskRefusalRule, (column: string) => string> = {
  'masking-predicates': (c) =>
    `the statement filters, joins, sorts or groups on masked column ${c}, which would reveal its values; the policy's masking.predicates is deny`,
  'masking-derived': (c) =>
    `the statement computes a result from masked column ${c}; the policy's masking.derived is deny, so select the column itself (it is masked) or leave it out`,
  'masking-write': (c) =>
    `the statement would store values of masked column ${c} where they could be read unmasked (INSERT … SELECT, UPDATE … SET, CREATE TABLE/VIEW AS)`,
  'masking-copy': (c) =>
    `COPY … TO would send masked column ${c} unmasked; leave the column out, or use SELECT, whose results are masked`,
};

/** A FunctionCall is what `SELECT schema.function(arguments)` would be: a read that calls that function. */
function functionCallFacts(name: string): StatementFacts {
  return { ...BLANK_FACTS, kind: 'read', nodeType: 'FunctionCall', functions: [name] };
}
