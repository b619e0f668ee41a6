/**
 * A generic walk over libpg-query's JSON parse tree. It visits every object and
 * array, so node types the classifier has never heard of are still searched for
 * the ones it has (tables, function calls, nested statements).
 *
 * The JSON has two shapes for a node: a field declared as the generic `Node`
 * holds a wrapper `{ "SelectStmt": { …body } }`; a field declared with a
 * concrete type holds the bare body (`DeleteStmt.relation` is a RangeVar body).
 * Wrappers name themselves. Bare bodies are named by BARE_FIELDS, for the types
 * the classifier must recognise (and for their owners, so those are named too);
 * other bare bodies (Alias, TypeName, …) are walked as anonymous objects.
 */

export type Body = Record<string, unknown>;

/** Bare (unwrapped) fields holding a type the classifier recognises: owner type → field → field type. */
export const BARE_FIELDS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  AlterObjectDependsStmt: { relation: 'RangeVar' },
  AlterObjectSchemaStmt: { relation: 'RangeVar' },
  AlterOwnerStmt: { relation: 'RangeVar' },
  AlterPolicyStmt: { table: 'RangeVar' },
  AlterSeqStmt: { sequence: 'RangeVar' },
  AlterTableStmt: { relation: 'RangeVar' },
  CallStmt: { funccall: 'FuncCall' },
  ClusterStmt: { relation: 'RangeVar' },
  ColumnDef: { identitySequence: 'RangeVar' },
  CompositeTypeStmt: { typevar: 'RangeVar' },
  Constraint: { pktable: 'RangeVar' },
  CopyStmt: { relation: 'RangeVar' },
  CreateForeignTableStmt: { base: 'CreateStmt' },
  CreatePolicyStmt: { table: 'RangeVar' },
  CreateSeqStmt: { sequence: 'RangeVar' },
  CreateStmt: { relation: 'RangeVar' },
  CreateTableAsStmt: { into: 'IntoClause' },
  CreateTrigStmt: { relation: 'RangeVar', constrrel: 'RangeVar' },
  DeleteStmt: { relation: 'RangeVar', withClause: 'WithClause' },
  IndexStmt: { relation: 'RangeVar' },
  InsertStmt: { relation: 'RangeVar', withClause: 'WithClause' },
  IntoClause: { rel: 'RangeVar' },
  MergeStmt: { relation: 'RangeVar', withClause: 'WithClause' },
  PartitionCmd: { name: 'RangeVar' },
  PLAssignStmt: { val: 'SelectStmt' },
  PublicationObjSpec: { pubtable: 'PublicationTable' },
  PublicationTable: { relation: 'RangeVar' },
  RefreshMatViewStmt: { relation: 'RangeVar' },
  ReindexStmt: { relation: 'RangeVar' },
  RenameStmt: { relation: 'RangeVar' },
  RuleStmt: { relation: 'RangeVar' },
  SelectStmt: { intoClause: 'IntoClause', withClause: 'WithClause', larg: 'SelectStmt', rarg: 'SelectStmt' },
  TableLikeClause: { relation: 'RangeVar' },
  UpdateStmt: { relation: 'RangeVar', withClause: 'WithClause' },
  VacuumRelation: { relation: 'RangeVar' },
  ViewStmt: { view: 'RangeVar' },
};

export interface Visitor<C> {
  /**
   * A typed node, reached through `slot` ("Owner.field"). Returns the context
   * for its fields, or null to not walk into it.
   */
  node(type: string, body: Body, context: C, slot: string): C | null;
  /** The context for one field of a typed node; the node's context when absent. */
  field?(type: string, body: Body, field: string, context: C): C;
}

/** The type name and body of a wrapper `{ Type: body }`, or null for anything else. */
export function unwrap(value: unknown): { type: string; body: Body } | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  let found: { type: string; body: Body } | null = null;
  for (const key in value) {
    const body = (value as Body)[key];
    // Only the Node union's wrapper keys start with a capital letter; no field name does.
    if (found !== null || !isCapitalised(key) || body === null || typeof body !== 'object') return null;
    found = { type: key, body: body as Body };
  }
  return found;
}

function isCapitalised(key: string): boolean {
  const c = key.charCodeAt(0);
  return c >= 65 && c <= 90;
}

/**
 * Walks `value` depth-first, in the tree's field order. The walk keeps its own stack
 * rather than recursing: generated SQL (long UNION ALL chains, `a || b || …`)
 * nests deeper than the call stack allows, and such a query must not be
 * refused just for being deep.
 */
export function walk<C>(value: unknown, context: C, visitor: Visitor<C>, owner = '', field = ''): void {
  const values: unknown[] = [value];
  const contexts: C[] = [context];
  const owners: string[] = [owner];
  const fields: string[] = [field];
  const push = (v: unknown, c: C, o: string, f: string): void => {
    if (v === null || typeof v !== 'object') return;
    values.push(v);
    contexts.push(c);
    owners.push(o);
    fields.push(f);
  };
  while (values.length > 0) {
    const current = values.pop() as object;
    const scope = contexts.pop() as C;
    const from = owners.pop() as string;
    const at = fields.pop() as string;
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) push(current[i], scope, from, at);
      continue;
    }
    const wrapped = unwrap(current);
    const type = wrapped?.type ?? BARE_FIELDS[from]?.[at];
    const body = wrapped?.body ?? (current as Body);
    const keys = Object.keys(body);
    if (type === undefined) {
      // An anonymous bare body (Alias, TypeName, …): nothing in it is looked up by owner.
      for (let i = keys.length - 1; i >= 0; i--) push(body[keys[i] as string], scope, '', keys[i] as string);
      continue;
    }
    const inner = visitor.node(type, body, scope, `${from}.${at}`);
    if (inner === null) continue;
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i] as string;
      const child = body[key];
      if (child === null || typeof child !== 'object') continue;
      push(child, visitor.field ? visitor.field(type, body, key, inner) : inner, type, key);
    }
  }
}
