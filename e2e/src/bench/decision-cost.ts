import {
  type Analyzer,
  createAnalyzer,
  type Decision,
  ensureParserLoaded,
  type PolicyEngine,
  type StatementFacts,
} from './sidecar.js';
import { microsPerCall, type TimingPlan } from './timing.js';

/** The design's budget for deciding a statement whose analysis is cached (issue 3). */
export const cachedTargetUs = 2;

export const decisionTiming: TimingPlan = { warmupMs: 300, batchMs: 100, batches: 9 };

export interface DecisionCost {
  label: string;
  /** Statements in the message. */
  statements: number;
  /** The engine's verdict under the bench policy, e.g. "allow (reads)". */
  decision: string;
  /** Per message: decode, parse, classify and decide, with caching off. */
  uncachedUs: number;
  /** Per message: decode, analysis cache hit, decide. */
  cachedUs: number;
}

const wideColumns = Array.from({ length: 100 }, (_, i) => `col_${String(i + 1).padStart(3, '0')}`);

/** Messages of the shapes an agent (or pgbench) sends, each stressing the analyzer differently. */
const messages: readonly { label: string; sql: string }[] = [
  { label: 'pgbench -S select', sql: 'SELECT abalance FROM pgbench_accounts WHERE aid = $1' },
  {
    label: 'join',
    sql:
      'SELECT o.id, o.total, c.name, c.email FROM orders o JOIN customers c ON c.id = o.customer_id ' +
      "WHERE o.status = 'paid' AND o.created_at > now() - interval '7 days' ORDER BY o.total DESC LIMIT 50",
  },
  {
    label: 'multi-statement message',
    sql:
      "BEGIN; SELECT count(*) FROM orders WHERE status = 'open'; " +
      'SELECT id, total FROM orders ORDER BY created_at DESC LIMIT 10; COMMIT',
  },
  {
    label: 'data-modifying CTE',
    sql:
      "WITH moved AS (DELETE FROM orders WHERE created_at < now() - interval '1 year' RETURNING *) " +
      'INSERT INTO orders_archive SELECT * FROM moved',
  },
  {
    label: `SELECT of ${wideColumns.length} columns`,
    sql: `SELECT ${wideColumns.join(', ')} FROM wide_events WHERE id = $1`,
  },
];

/**
 * What deciding one client message costs the proxy, in this process. Uncached uses an
 * analyzer with cacheCapacity 0, so every call parses the same text again (a unique comment
 * per call would also measure building that text and churning the cache). Cached uses a
 * primed analyzer. Both decode the SQL from the message's bytes on every call as the proxy
 * does: a fresh string must be hashed and compared in full to find its cache entry, which
 * reusing one string instance would skip.
 */
export async function measureDecisionCost(engine: PolicyEngine): Promise<DecisionCost[]> {
  await ensureParserLoaded();
  // Column usage only matters to masking, which the bench policy does not use: the proxy skips it too.
  const masking = engine.policy.masking !== null;
  const uncached = createAnalyzer({ cacheCapacity: 0, columnUsage: masking });
  const cached = createAnalyzer({ columnUsage: masking });
  return messages.map(({ label, sql }) => {
    const wire = Buffer.from(sql, 'utf8');
    const decide = (analyzer: Analyzer) => (): Decision =>
      engine.decideMessage(factsOf(analyzer, wire.toString('utf8')));
    const facts = factsOf(cached, sql);
    const decision = engine.decideMessage(facts);
    return {
      label,
      statements: facts.length,
      decision: `${decision.outcome} (${decision.rule})`,
      uncachedUs: microsPerCall(decide(uncached), decisionTiming),
      cachedUs: microsPerCall(decide(cached), decisionTiming),
    };
  });
}

/** The facts list the proxy's statement gate hands to the engine (minus prepared-statement bookkeeping). */
function factsOf(analyzer: Analyzer, sql: string): StatementFacts[] {
  const analysis = analyzer(sql);
  if (!analysis.ok) throw new Error(`the benchmark's SQL does not analyse: ${analysis.error.message}`);
  const facts: StatementFacts[] = [];
  for (const statement of analysis.statements) facts.push(statement.facts);
  return facts;
}
