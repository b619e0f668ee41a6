/**
 * Collects the facts found anywhere in a statement's tree: relations read and
 * written, functions called, row locks, nested data-modifying statements and
 * set_config() calls. Which statement kind they add up to is decided elsewhere
 * (kinds.ts); this module only looks.
 */
import type { CommonTableExpr, CopyStmt, FuncCall, RangeVar, UpdateStmt, WithClause } from 'libpg-query';
import { explainAnalyzes } from './explain.js';
import type { SettingChange } from './facts.js';
import { functionName, qualifiedName, relationName } from './names.js';
import { ANY_SETTING, setConfigChange } from './settings.js';
import { type Body, unwrap, type Visitor, walk } from './walk.js';

export interface Collected {
  tablesRead: Set<string>;
  tablesWritten: Set<string>;
  functions: Set<string>;
  locksRows: boolean;
  dataModifyingCte: boolean;
  /** An INSERT/UPDATE/DELETE/MERGE that executes when the statement does (the top one included). */
  writes: boolean;
  settings: SettingChange[];
}

interface Scope {
  /**
   * Inside a part that is stored or planned but not run now (a view's query, a
   * rule's actions, a SQL function body, the target of EXPLAIN without ANALYZE):
   * what it would write is only referenced, and its locks and set_config calls
   * do not happen.
   */
  deferred: boolean;
  /** CTE names visible here: an unqualified relation of that name is the CTE, not a table. */
  ctes: readonly string[];
  /** CTE names visible where the enclosing query's WITH list starts. */
  withOuter: readonly string[];
  /** Inside COPY … FROM, whose relation is written. */
  copyFrom: boolean;
  /** Inside CREATE SCHEMA s …, whose unqualified new objects land in s. */
  createSchema: string | null;
}

/** Where a relation is the one the statement creates, changes the data or definition of. */
const WRITE_SLOTS: ReadonlySet<string> = new Set([
  'InsertStmt.relation',
  'UpdateStmt.relation',
  'DeleteStmt.relation',
  'MergeStmt.relation',
  'TruncateStmt.relations',
  'IntoClause.rel',
  'RefreshMatViewStmt.relation',
  'CreateStmt.relation',
  'AlterTableStmt.relation',
  'PartitionCmd.name',
  'IndexStmt.relation',
  'CreateTrigStmt.relation',
  'RuleStmt.relation',
  'ViewStmt.view',
  'CreateSeqStmt.sequence',
  'AlterSeqStmt.sequence',
  'CompositeTypeStmt.typevar',
  'RenameStmt.relation',
  'AlterObjectSchemaStmt.relation',
  'AlterOwnerStmt.relation',
  'AlterObjectDependsStmt.relation',
  'CreatePolicyStmt.table',
  'AlterPolicyStmt.table',
]);

const DATA_MODIFYING: ReadonlySet<string> = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

/** Every node type the collector acts on; a test checks the walker can name each wherever it appears. */
export const RECOGNISED_TYPES: readonly string[] = [
  'RangeVar',
  'FuncCall',
  'LockingClause',
  'CommonTableExpr',
  'WithClause',
  'SelectStmt',
  ...DATA_MODIFYING,
  'CopyStmt',
  'ExplainStmt',
  'ViewStmt',
  'RuleStmt',
  'CreateFunctionStmt',
  'CreateSchemaStmt',
];

const TOP: Scope = { deferred: false, ctes: [], withOuter: [], copyFrom: false, createSchema: null };

/** Walks a wrapped statement node (`{ SelectStmt: … }`) and everything under it. */
export function collect(statement: unknown): Collected {
  const out: Collected = {
    tablesRead: new Set(),
    tablesWritten: new Set(),
    functions: new Set(),
    locksRows: false,
    dataModifyingCte: false,
    writes: false,
    settings: [],
  };

  const relation = (rv: RangeVar, scope: Scope, slot: string): void => {
    const written = WRITE_SLOTS.has(slot) || (slot === 'CopyStmt.relation' && scope.copyFrom);
    if (written) {
      const inSchema = scope.createSchema !== null && !rv.schemaname && rv.relpersistence !== 't';
      const name = inSchema ? qualifiedName([scope.createSchema ?? '', rv.relname ?? '']) : relationName(rv);
      (scope.deferred ? out.tablesRead : out.tablesWritten).add(name);
    } else if (rv.schemaname || !scope.ctes.includes(rv.relname ?? '')) {
      out.tablesRead.add(relationName(rv));
    }
  };

  const visitor: Visitor<Scope> = {
    node(type, body, scope, slot) {
      switch (type) {
        case 'RangeVar':
          relation(body as RangeVar, scope, slot);
          return null;
        case 'FuncCall': {
          const name = functionName((body as FuncCall).funcname);
          out.functions.add(name);
          if (!scope.deferred && (name === 'set_config' || name.endsWith('.set_config'))) {
            out.settings.push(setConfigChange(body as FuncCall));
          }
          return scope;
        }
        case 'LockingClause':
          // Its lockedRels name FROM items (often by alias), which are recorded where they appear.
          if (!scope.deferred) out.locksRows = true;
          return null;
        case 'CommonTableExpr': {
          const query = unwrap((body as CommonTableExpr).ctequery);
          if (!scope.deferred && query !== null && DATA_MODIFYING.has(query.type))
            out.dataModifyingCte = true;
          return scope;
        }
        case 'WithClause':
          walkWith(body as WithClause, scope);
          return null;
        case 'UpdateStmt':
          // UPDATE pg_settings is set_config() by another name (a rule on the view).
          if (!scope.deferred && (body as UpdateStmt).relation?.relname === 'pg_settings') {
            out.settings.push({ name: ANY_SETTING, value: null, local: false, via: 'set_config' });
          }
          return queryScope(type, body, scope);
        case 'InsertStmt':
        case 'DeleteStmt':
        case 'MergeStmt':
        case 'SelectStmt':
          return queryScope(type, body, scope);
        case 'CopyStmt':
          return { ...scope, copyFrom: (body as CopyStmt).is_from === true };
        default:
          return scope;
      }
    },
    field(type, body, field, scope) {
      const deferred =
        (type === 'ExplainStmt' && field === 'query' && !explainAnalyzes(body)) ||
        (type === 'ViewStmt' && field === 'query') ||
        (type === 'RuleStmt' && (field === 'actions' || field === 'whereClause')) ||
        (type === 'CreateFunctionStmt' && field === 'sql_body');
      if (deferred) return { ...scope, deferred: true };
      if (type === 'CreateSchemaStmt' && field === 'schemaElts') {
        return { ...scope, createSchema: (body.schemaname as string | undefined) ?? null };
      }
      return scope;
    },
  };

  const queryScope = (type: string, body: Body, scope: Scope): Scope => {
    if (DATA_MODIFYING.has(type) && !scope.deferred) out.writes = true;
    const names = cteNames(body.withClause as WithClause | undefined);
    return names.length === 0 ? scope : { ...scope, ctes: [...scope.ctes, ...names], withOuter: scope.ctes };
  };

  // A WITH RECURSIVE query sees all its siblings; otherwise a CTE sees only the
  // ones before it, and a same-named relation in its own body is a real table.
  const walkWith = (clause: WithClause, scope: Scope): void => {
    const names = cteNames(clause);
    for (const [index, cte] of (clause.ctes ?? []).entries()) {
      const ctes = clause.recursive ? scope.ctes : [...scope.withOuter, ...names.slice(0, index)];
      walk(cte, { ...scope, ctes }, visitor, 'WithClause', 'ctes');
    }
  };

  walk(statement, TOP, visitor);
  return out;
}

function cteNames(clause: WithClause | undefined): string[] {
  const names: string[] = [];
  for (const cte of clause?.ctes ?? []) {
    if ('CommonTableExpr' in cte) names.push(cte.CommonTableExpr.ctename ?? '');
  }
  return names;
}
