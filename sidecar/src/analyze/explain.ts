import type { ExplainStmt } from 'libpg-query';

/** PostgreSQL's defGetBoolean spellings of false; any other ANALYZE argument counts as true. */
const FALSE_WORDS = new Set(['false', 'off', '0']);

/**
 * Whether EXPLAIN executes its statement: the ANALYZE option, bare or with a
 * value. An argument that is not plainly false counts as true, and so does any
 * ANALYZE among repeated ones: the safe reading is that the statement runs.
 */
export function explainAnalyzes(stmt: ExplainStmt): boolean {
  return (stmt.options ?? []).some((option) => {
    if (!('DefElem' in option)) return false;
    const { defname, arg } = option.DefElem;
    if (defname !== 'analyze' && defname !== 'analyse') return false;
    if (arg === undefined) return true;
    if ('Integer' in arg) return (arg.Integer.ival ?? 0) !== 0;
    if ('String' in arg) return !FALSE_WORDS.has((arg.String.sval ?? '').toLowerCase());
    if ('Boolean' in arg) return arg.Boolean.boolval === true;
    return true;
  });
}
