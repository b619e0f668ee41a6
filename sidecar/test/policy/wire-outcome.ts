import pg from 'pg';
import { NOT_PREPARED, type Outcome, PARSE_ERROR } from './outcome-corpus.js';
import { databaseStateSql } from './support.js';

/** What became of one message on the wire. */
export interface WireResult {
  outcome: Outcome;
  /** The rule a refusal names; null when the message was forwarded. */
  rule: string | null;
  /** The refusal's SQLSTATE; null when the message was forwarded. */
  code: string | null;
  /** A forwarded message PostgreSQL itself failed ("SQLSTATE: message"): it reached the server. */
  serverError?: string;
}

/** How each pgwarden refusal reads; the capture group, when there is one, is the rule. */
const REFUSALS: readonly [pattern: RegExp, outcome: Outcome, rule?: string][] = [
  [/^pgwarden: denied by rule "([^"]+)"/, 'deny'],
  [/^pgwarden: statement needs approval by rule "([^"]+)"/, 'approve'],
  [/^pgwarden: statement refused because it does not parse/, 'deny', PARSE_ERROR],
  [/^pgwarden: prepared statement "[^"]*" was not prepared through pgwarden/, 'deny', NOT_PREPARED],
  [/^pgwarden: statement refused: /, 'deny', 'unclassified-statement'],
];

/**
 * Sends `sql` as one simple Query (node-postgres uses the simple protocol when
 * there are no parameters) and tells a pgwarden refusal from an error of
 * PostgreSQL's own. Anything else — another pgwarden error, a dropped
 * connection — is thrown: it is neither outcome.
 */
export async function sendMessage(client: pg.Client, sql: string): Promise<WireResult> {
  try {
    await client.query(sql);
    return { outcome: 'allow', rule: null, code: null };
  } catch (error) {
    if (!(error instanceof pg.DatabaseError)) throw error;
    for (const [pattern, outcome, rule] of REFUSALS) {
      const match = pattern.exec(error.message);
      if (match) return { outcome, rule: rule ?? match[1] ?? null, code: error.code ?? null };
    }
    if (error.message.startsWith('pgwarden')) throw error;
    return { outcome: 'allow', rule: null, code: null, serverError: `${error.code}: ${error.message}` };
  }
}

/**
 * Server-wide state beyond the tables' rows that a refused statement must not
 * touch either: roles and memberships, relations and their grants (temporary
 * ones included, while the session that made them lives), functions, triggers,
 * schemas, databases, extensions, default privileges, large objects, prepared
 * transactions, advisory locks, the log sequence, what ALTER SYSTEM writes, and
 * the server files the corpus names. Needs a superuser connection.
 */
const catalogStateSql = `
  SELECT concat_ws('|',
    (SELECT md5(string_agg(format('%s:%s:%s', rolname, rolsuper, rolcanlogin), ',' ORDER BY rolname)) FROM pg_roles),
    (SELECT md5(string_agg(format('%s>%s', roleid, member), ',' ORDER BY roleid, member)) FROM pg_auth_members),
    (SELECT md5(string_agg(format('%s:%s:%s:%s', oid, relname, relkind, relacl), ',' ORDER BY oid))
       FROM pg_class WHERE relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)),
    (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace),
    (SELECT count(*) FROM pg_trigger),
    (SELECT count(*) FROM pg_namespace),
    (SELECT count(*) FROM pg_database),
    (SELECT count(*) FROM pg_extension),
    (SELECT count(*) FROM pg_default_acl),
    (SELECT count(*) FROM pg_largeobject_metadata),
    (SELECT count(*) FROM pg_prepared_xacts),
    (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'),
    (SELECT format('%s:%s', last_value, is_called) FROM log_id_seq),
    (SELECT md5(string_agg(format('%s=%s', name, setting), ',' ORDER BY seqno)) FROM pg_file_settings),
    (pg_stat_file('/tmp/pgwarden-corpus.csv', true)).modification,
    (pg_stat_file('/tmp/pgwarden-corpus-lo', true)).modification)`;

/** support.ts's databaseState and the catalog state, over a superuser connection straight to the server. */
export async function upstreamState(direct: pg.Client): Promise<string> {
  const [tables, catalog] = await Promise.all([
    direct.query<{ string_agg: string }>(databaseStateSql),
    direct.query<{ concat_ws: string }>(catalogStateSql),
  ]);
  return `${tables.rows[0]?.string_agg}\n${catalog.rows[0]?.concat_ws}`;
}

/**
 * The session's identity and the settings and objects a refused SET, RESET,
 * DISCARD, PREPARE or DECLARE would change, read through the proxy: a query
 * every fixture policy allows.
 */
const sessionStateSql = `
  SELECT concat_ws('|', current_user, session_user,
    current_setting('search_path'), current_setting('statement_timeout'),
    current_setting('default_transaction_read_only'), current_setting('transaction_read_only'),
    current_setting('work_mem'), current_setting('application_name'),
    (SELECT string_agg(name, ',' ORDER BY name) FROM pg_prepared_statements),
    (SELECT string_agg(name, ',' ORDER BY name) FROM pg_cursors),
    txid_current_if_assigned()) AS state`;

export async function sessionState(client: pg.Client): Promise<string> {
  return (await client.query<{ state: string }>(sessionStateSql)).rows[0]?.state ?? '';
}
