import { DEFAULT_FUNCTION_DENY_LIST, keepWasmOnBaselineCompiler } from '@pgwarden/crds';
import { loadModule, parseSync } from 'libpg-query';

/**
 * Whether a held statement may be previewed, decided from PostgreSQL's own
 * parse tree before anything runs. A preview happens before any human has
 * looked at the statement, so only statements whose every effect a ROLLBACK
 * undoes qualify:
 * - one INSERT, UPDATE, DELETE, MERGE or SELECT. Everything else is refused:
 *   VACUUM, CREATE INDEX CONCURRENTLY, CREATE DATABASE, ALTER SYSTEM do not run
 *   in a transaction or not undoably; COMMIT or CALL could end the
 *   transaction; DDL would hold ACCESS EXCLUSIVE locks on production tables.
 * - no call of a function that acts outside the transaction: the default
 *   function deny list, whatever the policy's allowFunctions exempts (the
 *   policy lets an approved statement call it, not an unapproved preview),
 *   and the ones below.
 * Sequences advanced by nextval() or a serial default stay advanced (gaps),
 * and triggers and user-defined functions run as they would: documented, not
 * detectable from the statement.
 */

const PREVIEWABLE: Readonly<Record<string, string>> = {
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
  MergeStmt: 'MERGE',
  SelectStmt: 'SELECT',
};

/** Functions whose effect survives a ROLLBACK, beyond the default deny list. */
const OUTSIDE_THE_TRANSACTION: readonly { pattern: string; reason: string }[] = [
  { pattern: 'setval', reason: 'sets a sequence, which a rollback does not undo' },
  { pattern: 'http', reason: 'sends HTTP requests (pgsql-http)' },
  { pattern: 'http_*', reason: 'sends HTTP requests (pgsql-http)' },
  { pattern: 'pg_background_*', reason: 'runs SQL in a background worker, outside the transaction' },
];

const DENIED = [...DEFAULT_FUNCTION_DENY_LIST, ...OUTSIDE_THE_TRANSACTION].map(({ pattern, reason }) => ({
  match: new RegExp(`^${pattern.replaceAll('*', '.*').replaceAll('?', '.')}$`),
  reason,
}));

let loading: Promise<void> | undefined;

/** Null when the statement may be previewed, else why not (a sentence for status.impact.error). */
export async function previewRefusal(sql: string): Promise<string | null> {
  if (!loading) {
    keepWasmOnBaselineCompiler();
    loading = loadModule();
  }
  await loading;
  let statements: { stmt?: Record<string, unknown> }[];
  try {
    statements = (parseSync(sql) as { stmts?: { stmt?: Record<string, unknown> }[] }).stmts ?? [];
  } catch (error) {
    return `the statement does not parse: ${(error as Error).message}`;
  }
  if (statements.length !== 1) {
    return `the text holds ${statements.length} statements; a preview runs exactly one`;
  }
  const nodeType = Object.keys(statements[0]?.stmt ?? {})[0] ?? 'an empty statement';
  if (!(nodeType in PREVIEWABLE)) {
    return `${nodeType} is not previewed: only INSERT, UPDATE, DELETE, MERGE and SELECT are, as a rollback undoes all they do (others may not run in a transaction, may end it, or lock tables)`;
  }
  for (const name of functionsCalled(statements[0]?.stmt)) {
    const denied = DENIED.find((d) => d.match.test(name));
    if (denied) return `it calls ${name}(), which ${denied.reason}; a preview never runs it`;
  }
  return null;
}

/** Function names (the last part, lower-case) of every FuncCall in the tree. */
function functionsCalled(tree: unknown): Set<string> {
  const names = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'FuncCall') {
        const parts = ((value as { funcname?: { String?: { sval?: string } }[] }).funcname ?? []).map(
          (part) => part.String?.sval ?? '',
        );
        names.add((parts.at(-1) ?? '').toLowerCase());
      }
      visit(value);
    }
  };
  visit(tree);
  return names;
}
