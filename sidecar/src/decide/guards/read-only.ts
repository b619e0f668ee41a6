import type { BuiltinRuleName } from '@pgwarden/crds';
import type { StatementFacts, StatementKind } from '../../analyze/facts.js';
import { aStatementOf, decision, type Guard } from '../decision.js';
import { namePatternRegExp } from '../name-patterns.js';

const RULE: BuiltinRuleName = 'read-only-access';

/** Kinds that change data, schema, privileges or the server, or run code pgwarden cannot see. */
const WRITING_KINDS: ReadonlySet<StatementKind> = new Set(['write', 'ddl', 'dcl', 'procedural', 'admin']);

/** SELECT-callable functions that change sequences: PostgreSQL refuses them in a read-only transaction too. */
const SEQUENCE_WRITERS = namePatternRegExp(['nextval', 'setval']);

/**
 * read-only-access: under access read-only, everything that writes or could
 * write, whatever the rules say. The upstream session is also pinned read-only;
 * this guard makes the refusal early, named, and independent of it. Row locks
 * are included: PostgreSQL refuses them in read-only transactions, and a held
 * lock can stall the application's writers.
 */
export const readOnlyGuard: Guard = (facts) => {
  const what = writingPart(facts);
  return what === null
    ? null
    : decision(
        'deny',
        RULE,
        `the policy grants read-only access, so ${what} is not allowed; ask the policy owner for read-write access if the task needs it`,
        facts.kind,
      );
};

function writingPart(facts: StatementFacts): string | null {
  if (WRITING_KINDS.has(facts.kind)) return aStatementOf(facts.kind);
  if (facts.transactionReadWrite === true) return 'a READ WRITE transaction';
  for (let f: StatementFacts | null = facts; f !== null; f = f.inner) {
    if (f.dataModifyingCte) return 'a WITH clause that modifies data';
    if (f.explainAnalyze && (f.inner === null || f.inner.kind !== 'read')) {
      return 'EXPLAIN ANALYZE of a statement that is not a read (ANALYZE executes it)';
    }
    if (f.locksRows) return 'locking rows or tables (FOR UPDATE/SHARE, LOCK TABLE)';
    if (f.copy?.direction === 'from') return 'COPY … FROM';
    for (const fn of f.functions) {
      if (SEQUENCE_WRITERS.test(fn)) return `${fn}(), which changes a sequence,`;
    }
  }
  return null;
}
