import type { ApprovalStatement, Impact } from '@pgwarden/crds';
import pg from 'pg';
import { previewRefusal } from './safety.js';

/** The plan shown on the approval; `kubectl describe` must stay readable. */
const MAX_PLAN_CHARS = 4000;

/** status.impact without `at`, which the caller stamps when it claims the preview. */
export type PreviewOutcome = Omit<Impact, 'at'>;

/**
 * Runs one held statement on `client` (a connection of its own, as the
 * DatabaseConnection's role) inside a transaction that is always rolled back:
 * EXPLAIN for the planner's estimate, then the statement itself with its bind
 * parameters (as text, as the approval shows them) for the rows it affects.
 * Rows it returns are counted, never kept. Never retries; every failure
 * becomes the outcome's error.
 */
export async function previewStatement(
  client: pg.Client,
  statement: ApprovalStatement,
  statementTimeoutMs: number,
): Promise<PreviewOutcome> {
  const refusal = await previewRefusal(statement.text);
  if (refusal !== null) return outcome('Refused', { error: refusal });
  const values = [...statement.parameters];
  let planRows: number | null = null;
  let plan: string | null = null;
  let started = 0;
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL statement_timeout = ${Math.trunc(statementTimeoutMs)}`);
    // The extended protocol: the server refuses a second statement hidden in the text.
    const explained = await client.query<{ 'QUERY PLAN': string }>({
      text: `EXPLAIN ${statement.text}`,
      values,
      queryMode: 'extended',
    } as pg.QueryConfig);
    const lines = explained.rows.map((row) => row['QUERY PLAN']);
    plan = truncate(lines.join('\n'));
    planRows = estimatedRows(lines);
    started = performance.now();
    const rowsAffected = await run(client, statement.text, values);
    const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
    return outcome('Previewed', { rowsAffected, planRows, plan, durationMs });
  } catch (error) {
    return outcome('Failed', {
      planRows,
      plan,
      durationMs: started === 0 ? null : Math.round(performance.now() - started),
      error: describe(error, statementTimeoutMs),
    });
  } finally {
    // Also after an error: the transaction is aborted, ROLLBACK ends it.
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

/** An outcome with every field empty but those given. */
export function outcome(result: Impact['result'], fields: Partial<PreviewOutcome> = {}): PreviewOutcome {
  return { result, rowsAffected: null, planRows: null, plan: null, error: null, durationMs: null, ...fields };
}

/** Executes the statement counting rows instead of keeping them: a preview of a big SELECT must not hold them in memory. */
function run(client: pg.Client, text: string, values: (string | null)[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const query = new pg.Query({ text, values, queryMode: 'extended' } as pg.QueryConfig);
    query.on('row', () => {});
    query.on('end', (result: pg.QueryResult) => resolve(result.rowCount ?? 0));
    query.on('error', reject);
    client.query(query);
  });
}

/**
 * The planner's estimate of the rows the statement changes or returns: the
 * top node's, except for INSERT/UPDATE/DELETE/MERGE without RETURNING, whose
 * top node (ModifyTable) estimates the rows it returns, 0; there it is the
 * estimate of the node feeding it.
 */
function estimatedRows(lines: readonly string[]): number | null {
  const rows = (line: string | undefined) => {
    const m = line ? /rows=(\d+)/.exec(line) : null;
    return m ? Number(m[1]) : null;
  };
  const top = lines[0] ?? '';
  if (/^(Insert|Update|Delete|Merge) on /.test(top))
    return rows(lines.slice(1).find((l) => l.includes('->')));
  return rows(top);
}

function truncate(text: string): string {
  return text.length <= MAX_PLAN_CHARS ? text : `${text.slice(0, MAX_PLAN_CHARS - 1)}…`;
}

function describe(error: unknown, statementTimeoutMs: number): string {
  const { code, message } = error as { code?: string; message?: string };
  if (code === '57014') {
    return `cancelled by the preview's statement timeout (${statementTimeoutMs} ms): the statement was not previewed, and a preview is not retried`;
  }
  return `${code ? `SQLSTATE ${code}: ` : ''}${message ?? String(error)}`;
}
