import { type Analysis, BLANK_FACTS, type StatementFacts } from '../analyze/facts.js';
import type { Logger } from '../observe/log.js';
import type { PgError } from '../wire/error-response.js';
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

  constructor(
    private readonly deps: GateDeps,
    private readonly substitution: ErrorSubstitution,
  ) {}

  onQuery(buf: Buffer, start: number, end: number): Buffer | null {
    const limited = this.rateLimited();
    if (limited) return this.substitution.standInQuery(limited);
    const r = this.reader.reset(buf, start + 5, end);
    const sql = r.cstring();
    // PostgreSQL rejects bytes after the string too; refusing here keeps what was judged and what runs identical.
    if (r.remaining !== 0) throw new ProtocolViolation('Query message has bytes after its query string');
    const refusal = this.judge(sql);
    if (refusal) return this.substitution.standInQuery(refusal);
    this.substitution.countReadyProducer();
    return null;
  }

  onParse(buf: Buffer, start: number, end: number): Buffer | null {
    const r = this.reader.reset(buf, start + 5, end);
    const name = r.cstring();
    const sql = r.cstring();
    const parameterTypes = r.int16();
    if (parameterTypes < 0 || r.remaining !== 4 * parameterTypes) {
      throw new ProtocolViolation('Parse message length does not match its fields');
    }
    const refusal = this.judge(sql);
    return refusal ? this.substitution.standInParse(name, refusal) : null;
  }

  /** Execute runs what its Parse already had decided; only the rate limit applies here. */
  onExecute(): Buffer | null {
    const limited = this.rateLimited();
    return limited ? this.substitution.standInParse(`pgwarden_limit_${Date.now()}`, limited) : null;
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
    const limited = this.rateLimited();
    if (limited) return this.substitution.standInQuery(limited);
    const oid = this.reader.reset(buf, start + 5, end).int32() >>> 0;
    const name = await this.deps.functionName(oid);
    if (name === null) return this.substitution.standInQuery(functionCallError(oid));
    const facts = functionCallFacts(name);
    const decision = this.deps.judge.decideMessage([facts]);
    this.deps.decided(decision.outcome, decision.rule);
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

  /** The error to answer with, or null when every statement of the SQL is allowed. */
  private judge(sql: string): PgError | null {
    const analysis = this.deps.analyze(sql);
    if (!analysis.ok) {
      const { reason, message, position } = analysis.error;
      return reason === 'parse' ? parseError(message, position) : unclassifiedError(message);
    }
    const facts: StatementFacts[] = [];
    // PREPAREs earlier in the same message count for the EXECUTEs after them; they are
    // remembered for the session only once the whole message is allowed.
    let preparedHere: Map<string, StatementFacts> | null = null;
    for (const { facts: f } of analysis.statements) {
      const judged = this.withPrepared(f, preparedHere);
      if (judged === undefined) return unknownPreparedError(f.refersTo?.name ?? '');
      facts.push(...judged);
      if (f.defines?.kind === 'prepared' && f.inner) {
        preparedHere ??= new Map();
        preparedHere.set(f.defines.name, f.inner);
      }
    }
    const decision = this.deps.judge.decideMessage(facts);
    this.deps.decided(decision.outcome, decision.rule);
    if (decision.outcome === 'allow') {
      this.remember(analysis.statements.map((s) => s.facts));
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
    return wait > 0 ? rateLimitError(this.deps.queriesPerMinute, wait) : null;
  }
}

/** A FunctionCall is what `SELECT schema.function(arguments)` would be: a read that calls that function. */
function functionCallFacts(name: string): StatementFacts {
  return { ...BLANK_FACTS, kind: 'read', nodeType: 'FunctionCall', functions: [name] };
}
