import { collect } from './collect.js';
import { columnUsage, NO_COLUMN_USAGE } from './columns.js';
import { finish, type Nested, newDraft, type Resolver } from './draft.js';
import type { StatementFacts } from './facts.js';
import { STATEMENT_TABLE } from './kinds.js';
import { UnclassifiedStatement } from './unclassified.js';
import { unwrap } from './walk.js';

/**
 * The facts of one statement node (`{ SelectStmt: … }`, as in a RawStmt's
 * `stmt`). Throws UnclassifiedStatement for a node type without an entry in the
 * statement table, or a form of one the classifier does not understand.
 * Column usage, which only masking reads, is worked out when `withColumns`.
 */
export function classifyStatement(statement: unknown, withColumns = true): StatementFacts {
  const node = unwrap(statement);
  if (node === null) throw new UnclassifiedStatement('a statement without a node type');
  const resolver = Object.hasOwn(STATEMENT_TABLE, node.type)
    ? (STATEMENT_TABLE[node.type as keyof typeof STATEMENT_TABLE] as Resolver<unknown> | null)
    : null;
  if (resolver === null) throw new UnclassifiedStatement(`${node.type} statements`);
  const draft = newDraft(
    node.type,
    collect(statement),
    withColumns ? columnUsage(statement) : NO_COLUMN_USAGE,
  );
  const kind =
    typeof resolver === 'string' ? resolver : resolver(node.body, draft, withColumns ? nested : nestedLean);
  return finish(kind, draft);
}

function nestedWith(withColumns: boolean): Nested {
  return (statement) => {
    if (statement === undefined) throw new UnclassifiedStatement('a wrapper statement without its statement');
    return classifyStatement(statement, withColumns);
  };
}
const nested = nestedWith(true);
const nestedLean = nestedWith(false);
