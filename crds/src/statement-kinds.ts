import { z } from 'zod';
import { describeValue } from './field-errors.js';

/**
 * The statement kinds the classifier assigns and policies match on. The
 * sidecar's facts contract (sidecar/src/analyze/facts.ts) repeats this list so
 * the analyzer has no dependency on zod; a test keeps the two identical.
 */
export const STATEMENT_KINDS = [
  'read',
  'write',
  'ddl',
  'dcl',
  'procedural',
  'admin',
  'transaction',
  'session',
  'utility',
] as const;
export type StatementKind = (typeof STATEMENT_KINDS)[number];

/** What each kind covers, for documentation and `kubectl explain`. */
export const STATEMENT_KIND_DESCRIPTIONS: Readonly<Record<StatementKind, string>> = {
  read: 'SELECT, VALUES, TABLE, SHOW, COPY … TO STDOUT, FETCH, EXPLAIN without ANALYZE (of anything)',
  write: 'INSERT, UPDATE, DELETE, MERGE, COPY … FROM STDIN, data-modifying CTEs, EXPLAIN ANALYZE of a write',
  ddl: 'CREATE/ALTER/DROP/TRUNCATE/COMMENT of schema objects, including CREATE TEMP TABLE, CREATE TABLE AS and SELECT INTO',
  dcl: 'GRANT, REVOKE, CREATE/ALTER/DROP ROLE, ALTER DEFAULT PRIVILEGES, SET ROLE, SET SESSION AUTHORIZATION',
  procedural: 'DO, CALL, CREATE FUNCTION/PROCEDURE: code pgwarden cannot see into',
  admin:
    'VACUUM, ANALYZE, CLUSTER, REINDEX, CHECKPOINT, LOAD, ALTER SYSTEM, CREATE DATABASE, replication, PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED',
  transaction: 'BEGIN, COMMIT, ROLLBACK, SAVEPOINT, SET TRANSACTION',
  session: 'SET, RESET, DISCARD, LISTEN, UNLISTEN, NOTIFY, EXECUTE, DEALLOCATE, CLOSE, LOCK',
  utility: 'reserved: this version classifies every statement type as one of the kinds above',
};

export const StatementKindSchema = z
  .enum(STATEMENT_KINDS, {
    error: (issue) =>
      `unknown kind ${describeValue(issue.input)}; expected one of ${STATEMENT_KINDS.join(', ')}`,
  })
  .describe(`A statement kind: ${STATEMENT_KINDS.join(', ')}.`);
