/**
 * What the classifier learns about one SQL statement from its parse tree. The
 * policy engine decides from these facts alone, never from the SQL text.
 */

import { type ColumnUsage, NO_COLUMN_USAGE } from './columns.js';

/** Statement kinds, from least to most consequential within each family. */
export const STATEMENT_KINDS = [
  'read', // SELECT, VALUES, TABLE, SHOW, COPY … TO STDOUT, FETCH, EXPLAIN without ANALYZE
  'write', // INSERT, UPDATE, DELETE, MERGE, COPY … FROM STDIN, REFRESH MATERIALIZED VIEW, data-modifying CTEs, EXPLAIN ANALYZE of DML
  'ddl', // CREATE/ALTER/DROP/TRUNCATE/COMMENT/… of schema objects, CREATE TABLE AS, SELECT INTO (CREATE TEMP TABLE too)
  'dcl', // GRANT, REVOKE, CREATE/ALTER/DROP ROLE, ALTER DEFAULT PRIVILEGES, SET ROLE/SESSION AUTHORIZATION
  'procedural', // DO, CALL, CREATE FUNCTION/PROCEDURE: opaque code
  'admin', // VACUUM, ANALYZE, CLUSTER, REINDEX, CHECKPOINT, LOAD, ALTER SYSTEM, CREATE DATABASE, replication…
  'transaction', // BEGIN, COMMIT, ROLLBACK, SAVEPOINT, SET TRANSACTION (two-phase commit is admin: it outlives the session)
  'session', // SET, RESET, DISCARD, LISTEN, UNLISTEN, NOTIFY, EXECUTE, DEALLOCATE, CLOSE, LOCK (PREPARE and DECLARE take the kind of what they wrap)
  'utility', // reserved: the classifier gives every statement type one of the kinds above
] as const;
export type StatementKind = (typeof STATEMENT_KINDS)[number];

export interface SettingChange {
  /** Lower-case GUC name (`role`, `search_path`, `transaction_read_only`…). */
  name: string;
  /** The new value as text when it is a literal; null for RESET/DEFAULT or when not a literal. */
  value: string | null;
  /** SET LOCAL / set_config(…, true): only for the current transaction. */
  local: boolean;
  /** How it was changed: SET/RESET statement, set_config() call, BEGIN/SET TRANSACTION options. */
  via: 'set' | 'reset' | 'set_config' | 'transaction';
}

export interface CopyFacts {
  direction: 'to' | 'from';
  /** stdio: TO STDOUT / FROM STDIN; file: server-side file; program: server-side shell command. */
  target: 'stdio' | 'file' | 'program';
}

export interface StatementFacts {
  /** The statement's kind; a statement that writes anywhere (e.g. in a CTE) is a write even if its top is a SELECT. */
  kind: StatementKind;
  /** The parse tree's top node type, e.g. "SelectStmt", for messages and logs. */
  nodeType: string;
  /** Tables (and views) read, "schema.name" when qualified, else the bare name. Sorted, unique. */
  tablesRead: string[];
  /** Tables written (INSERT/UPDATE/DELETE/MERGE/COPY FROM/SELECT INTO/TRUNCATE targets). Sorted, unique. */
  tablesWritten: string[];
  /** Functions called anywhere in the statement, lower-case, "schema.name" when qualified. Sorted, unique. */
  functions: string[];
  /** FOR UPDATE / FOR SHARE / … locking clauses, or LOCK TABLE. */
  locksRows: boolean;
  /** A WITH clause contains INSERT/UPDATE/DELETE/MERGE. */
  dataModifyingCte: boolean;
  /** EXPLAIN ANALYZE: the inner statement executes. */
  explainAnalyze: boolean;
  copy: CopyFacts | null;
  /** Settings this statement changes (SET/RESET, set_config(), SET TRANSACTION / BEGIN options). */
  settings: SettingChange[];
  /** BEGIN/START TRANSACTION/SET TRANSACTION … READ WRITE (null when not specified). */
  transactionReadWrite: boolean | null;
  /**
   * For PREPARE, DECLARE CURSOR, EXPLAIN, CREATE TABLE AS and similar wrappers: the
   * facts of the statement inside. The wrapper's own kind already reflects it.
   */
  inner: StatementFacts | null;
  /** SQL-level prepared statement or cursor this statement refers to (EXECUTE x, FETCH x, DEALLOCATE x, CLOSE x). */
  refersTo: { kind: 'prepared' | 'cursor'; name: string | null } | null;
  /** SQL-level prepared statement or cursor this statement defines (PREPARE x, DECLARE x). */
  defines: { kind: 'prepared' | 'cursor'; name: string } | null;
  /** Where the statement uses columns: what masking resolves against the catalog. */
  columns: ColumnUsage;
}

/** Every fact at its empty value: the base for facts built outside the classifier (FunctionCall, tests). */
export const BLANK_FACTS: Readonly<Omit<StatementFacts, 'kind' | 'nodeType'>> = Object.freeze({
  tablesRead: [],
  tablesWritten: [],
  functions: [],
  locksRows: false,
  dataModifyingCte: false,
  explainAnalyze: false,
  copy: null,
  settings: [],
  transactionReadWrite: null,
  inner: null,
  refersTo: null,
  defines: null,
  columns: NO_COLUMN_USAGE,
});

/** One statement of a message: its text slice and its facts. */
export interface AnalyzedStatement {
  sql: string;
  facts: StatementFacts;
}

/** The result of analysing one SQL string (a simple Query may hold several statements). */
export type Analysis =
  | { ok: true; statements: AnalyzedStatement[] }
  | {
      ok: false;
      /** parse: the SQL does not parse (position from the parser); unclassified: a node type the classifier does not know (denied, fail closed). */
      error: { reason: 'parse' | 'unclassified'; message: string; position: number | null };
    };
