/**
 * Kind handlers for the top-level statements whose kind depends on what they
 * contain, or that carry facts beyond the tree walk (COPY target, PREPARE/DECLARE
 * names, EXPLAIN ANALYZE, settings).
 */
import type {
  ClosePortalStmt,
  CopyStmt,
  CreateSchemaStmt,
  CreateTableAsStmt,
  DeallocateStmt,
  DeclareCursorStmt,
  DiscardStmt,
  DropStmt,
  ExecuteStmt,
  ExplainStmt,
  FetchStmt,
  ObjectType,
  PrepareStmt,
  SelectStmt,
  TransactionStmt,
  VariableSetStmt,
} from 'libpg-query';
import type { Draft, Nested } from './draft.js';
import { explainAnalyzes } from './explain.js';
import type { StatementKind } from './facts.js';
import { nameParts, qualifiedName } from './names.js';
import { ANY_SETTING, transactionFacts, variableSetFacts } from './settings.js';

/**
 * SELECT reads; one with a data-modifying CTE writes; SELECT INTO creates a
 * table (ddl, like CREATE TABLE AS, even when a CTE also writes: the CTE shows
 * in dataModifyingCte and tablesWritten).
 */
export function selectKind(stmt: SelectStmt, draft: Draft): StatementKind {
  if (stmt.intoClause !== undefined) return 'ddl';
  if (draft.writes) return 'write';
  // Without DML only an INTO clause writes; deeper than the top PostgreSQL rejects it, but the parser does not.
  return draft.tablesWritten.size > 0 ? 'ddl' : 'read';
}

/** EXPLAIN plans only (a read); EXPLAIN ANALYZE runs its statement and is what that statement is. */
export function explainKind(stmt: ExplainStmt, draft: Draft, nested: Nested): StatementKind {
  const inner = nested(stmt.query);
  draft.inner = inner;
  draft.explainAnalyze = explainAnalyzes(stmt);
  // EXPLAIN [ANALYZE] EXECUTE p: the prepared statement decides.
  draft.refersTo = inner.refersTo;
  return draft.explainAnalyze ? inner.kind : 'read';
}

/** CREATE TABLE AS / CREATE MATERIALIZED VIEW / SELECT INTO in its analysed form: creates a table. */
export function createTableAsKind(stmt: CreateTableAsStmt, draft: Draft, nested: Nested): StatementKind {
  const inner = nested(stmt.query);
  draft.inner = inner;
  // CREATE TABLE t AS EXECUTE p runs the prepared statement.
  draft.refersTo = inner.refersTo;
  return 'ddl';
}

/** PREPARE is decided as the statement it prepares, so a denied statement cannot be parked for later. */
export function prepareKind(stmt: PrepareStmt, draft: Draft, nested: Nested): StatementKind {
  const inner = nested(stmt.query);
  draft.inner = inner;
  draft.defines = { kind: 'prepared', name: stmt.name ?? '' };
  return inner.kind;
}

/** DECLARE is decided as its query: the rows it returns (and locks) are fetched later. */
export function declareKind(stmt: DeclareCursorStmt, draft: Draft, nested: Nested): StatementKind {
  const inner = nested(stmt.query);
  draft.inner = inner;
  draft.defines = { kind: 'cursor', name: stmt.portalname ?? '' };
  return inner.kind;
}

/**
 * COPY TO reads and COPY FROM writes. The JSON tree cannot tell `TO ''` from
 * `TO STDOUT` (both arrive without a filename); PostgreSQL refuses the empty
 * file name, so reading it as stdio lets nothing through.
 */
export function copyKind(stmt: CopyStmt, draft: Draft, nested: Nested): StatementKind {
  const target = stmt.is_program ? 'program' : stmt.filename === undefined ? 'stdio' : 'file';
  draft.copy = { direction: stmt.is_from ? 'from' : 'to', target };
  if (stmt.query !== undefined) draft.inner = nested(stmt.query);
  // COPY (DELETE … RETURNING) TO STDOUT deletes.
  return stmt.is_from || draft.writes ? 'write' : 'read';
}

export function executeKind(stmt: ExecuteStmt, draft: Draft): StatementKind {
  draft.refersTo = { kind: 'prepared', name: stmt.name ?? '' };
  return 'session';
}

export function deallocateKind(stmt: DeallocateStmt, draft: Draft): StatementKind {
  draft.refersTo = { kind: 'prepared', name: stmt.isall ? null : (stmt.name ?? '') };
  return 'session';
}

/** FETCH and MOVE read from a cursor whose query was decided at DECLARE. */
export function fetchKind(stmt: FetchStmt, draft: Draft): StatementKind {
  draft.refersTo = { kind: 'cursor', name: stmt.portalname ?? '' };
  return 'read';
}

export function closeKind(stmt: ClosePortalStmt, draft: Draft): StatementKind {
  draft.refersTo = { kind: 'cursor', name: stmt.portalname ?? null };
  return 'session';
}

/** DISCARD ALL includes RESET ALL and SET SESSION AUTHORIZATION DEFAULT. */
export function discardKind(stmt: DiscardStmt, draft: Draft): StatementKind {
  if (stmt.target === 'DISCARD_ALL') {
    draft.settings.push({ name: ANY_SETTING, value: null, local: false, via: 'reset' });
  }
  return 'session';
}

export function lockKind(_stmt: unknown, draft: Draft): StatementKind {
  draft.locksRows = true;
  return 'session';
}

/**
 * Two-phase commit hands a transaction, its writes and its locks, to the
 * server beyond the session: it outlives every decision pgwarden can make, so
 * PREPARE TRANSACTION and COMMIT/ROLLBACK PREPARED are admin, not transaction.
 */
const TWO_PHASE = new Set([
  'TRANS_STMT_PREPARE',
  'TRANS_STMT_COMMIT_PREPARED',
  'TRANS_STMT_ROLLBACK_PREPARED',
]);

export function transactionKind(stmt: TransactionStmt, draft: Draft): StatementKind {
  const facts = transactionFacts(stmt);
  draft.settings.push(...facts.settings);
  draft.transactionReadWrite = facts.transactionReadWrite;
  return TWO_PHASE.has(stmt.kind ?? '') ? 'admin' : 'transaction';
}

export function variableSetKind(stmt: VariableSetStmt, draft: Draft): StatementKind {
  const facts = variableSetFacts(stmt);
  draft.settings.push(...facts.settings);
  draft.transactionReadWrite = facts.transactionReadWrite;
  return facts.kind;
}

/** CREATE SCHEMA … GRANT … changes privileges, the more sensitive of the two. */
export function createSchemaKind(stmt: CreateSchemaStmt): StatementKind {
  return (stmt.schemaElts ?? []).some((element) => 'GrantStmt' in element) ? 'dcl' : 'ddl';
}

/** DROPs of objects whose CREATE is not ddl keep that CREATE's kind. */
const DROP_KINDS: Partial<Record<ObjectType, StatementKind>> = {
  OBJECT_EXTENSION: 'admin',
  OBJECT_FDW: 'admin',
  OBJECT_LANGUAGE: 'admin',
  OBJECT_ACCESS_METHOD: 'admin',
  OBJECT_EVENT_TRIGGER: 'admin',
  OBJECT_PUBLICATION: 'admin',
  OBJECT_POLICY: 'dcl',
};

const DROPPED_RELATIONS: ReadonlySet<ObjectType> = new Set([
  'OBJECT_TABLE',
  'OBJECT_VIEW',
  'OBJECT_MATVIEW',
  'OBJECT_FOREIGN_TABLE',
  'OBJECT_SEQUENCE',
]);

/** DROP TABLE/VIEW/…: the dropped relations are written (their names are lists, not RangeVars). */
export function dropKind(stmt: DropStmt, draft: Draft): StatementKind {
  const type = stmt.removeType;
  if (type !== undefined && DROPPED_RELATIONS.has(type)) {
    for (const object of stmt.objects ?? []) {
      if ('List' in object) draft.tablesWritten.add(qualifiedName(nameParts(object.List.items).slice(-2)));
    }
  }
  return (type !== undefined && DROP_KINDS[type]) || 'ddl';
}
