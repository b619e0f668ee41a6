/**
 * What each SQL message must come to under the two fixture policies, written
 * from the policies' meaning (fixtures/read-only.yaml, fixtures/read-write.yaml
 * and docs/policy.md), never from the engine's output: the tests run it both
 * through the real proxy and through the classifier + engine in-process.
 *
 * The tables are those of support.ts `schemaSql`: accounts, scratch (the one
 * table the read-write policy lets agents write), secrets (denied by name under
 * read-only) and log (a serial column, so a sequence).
 */

export type Outcome = 'allow' | 'deny' | 'approve';

export interface CorpusEntry {
  /** The simple Query message: one or several statements, sent as is. */
  sql: string;
  readOnly: Outcome;
  readWrite: Outcome;
  /** The rule a refusal names (a policy rule, a built-in rule, or {@link NOT_PREPARED}). */
  rule?: { readOnly?: string; readWrite?: string };
  /** Messages sent first on the same session, whatever becomes of them: the PREPAREs an EXECUTE refers to. */
  setup?: readonly string[];
  /** Which part of the policy the entry exercises, for test names and counts. */
  category: string;
}

/** The built-in rule for SQL that does not parse; the only refusal with SQLSTATE 42601. */
export const PARSE_ERROR = 'parse-error';

/**
 * Not a policy rule: EXECUTE of a name the proxy never saw PREPAREd (or saw
 * refused, or DEALLOCATEd) cannot be decided as its statement, so it is refused
 * with SQLSTATE 26000 before any rule runs. A refused PREPARE must stay unusable.
 */
export const NOT_PREPARED = 'not-prepared';

/** `allow`, or the outcome and the rule that must decide it. */
type Expected = 'allow' | `deny:${string}` | `approve:${string}`;

const ALLOW = 'allow';
const READ_ONLY = 'deny:read-only-access';
const NO_DDL = 'deny:no-ddl';
const APPROVE = 'approve:writes-need-approval';
const SECRETS = 'deny:no-secrets';
const DENY_LISTED = 'deny:function-deny-list';
const GUARDED = 'deny:guarded-setting';
const SERVER_FILE = 'deny:copy-server-file';
const UNPARSABLE = `deny:${PARSE_ERROR}`;
const UNPREPARED = `deny:${NOT_PREPARED}`;

type Row = readonly [sql: string, readOnly: Expected, readWrite: Expected, setup?: readonly string[]];

function category(name: string, rows: readonly Row[]): CorpusEntry[] {
  return rows.map(([sql, readOnly, readWrite, setup]) => {
    const ro = parse(readOnly);
    const rw = parse(readWrite);
    const rule = { ...(ro.rule && { readOnly: ro.rule }), ...(rw.rule && { readWrite: rw.rule }) };
    return {
      sql,
      readOnly: ro.outcome,
      readWrite: rw.outcome,
      ...(Object.keys(rule).length > 0 && { rule }),
      ...(setup && { setup }),
      category: name,
    };
  });
}

function parse(expected: Expected): { outcome: Outcome; rule?: string } {
  if (expected === 'allow') return { outcome: 'allow' };
  const [outcome, rule] = expected.split(':') as [Outcome, string];
  return { outcome, rule };
}

const PREPARED_READ = 'PREPARE acct(int) AS SELECT * FROM accounts WHERE id = $1';
const PREPARED_SCRATCH_INSERT = "PREPARE note(int) AS INSERT INTO scratch VALUES ($1, 'prepared')";

export const OUTCOME_CORPUS: readonly CorpusEntry[] = [
  ...category('reads', [
    ['SELECT 1', ALLOW, ALLOW],
    ['SELECT * FROM accounts', ALLOW, ALLOW],
    ['SELECT count(*) FROM scratch', ALLOW, ALLOW],
    ['SELECT * FROM log', ALLOW, ALLOW],
    ['SELECT * FROM secrets', SECRETS, ALLOW],
    ['SELECT token FROM public.secrets WHERE id = 1', SECRETS, ALLOW],
    ['SELECT id, token IS NOT NULL FROM secrets', SECRETS, ALLOW],
    ['TABLE accounts', ALLOW, ALLOW],
    ['TABLE secrets', SECRETS, ALLOW],
    ["VALUES (1, 'a'), (2, 'b')", ALLOW, ALLOW],
    ['SELECT now(), current_user, version()', ALLOW, ALLOW],
    ['SELECT * FROM accounts ORDER BY balance DESC LIMIT 3', ALLOW, ALLOW],
    ['SELECT owner, balance FROM accounts WHERE id BETWEEN 2 AND 4', ALLOW, ALLOW],
    ['SELECT DISTINCT owner FROM accounts', ALLOW, ALLOW],
    ['SELECT owner, sum(balance) FROM accounts GROUP BY owner HAVING sum(balance) > 50', ALLOW, ALLOW],
    ['SELECT * FROM generate_series(1, 3)', ALLOW, ALLOW],
    ["SELECT * FROM pg_catalog.pg_tables WHERE schemaname = 'public'", ALLOW, ALLOW],
    // A string that names a table is not a read of it.
    ["SELECT relname FROM pg_class WHERE relname = 'secrets'", ALLOW, ALLOW],
    ["SELECT 'SELECT * FROM secrets'", ALLOW, ALLOW],
    ['SELECT * FROM pg_stat_activity WHERE pid = pg_backend_pid()', ALLOW, ALLOW],
    ["SELECT table_name FROM information_schema.tables WHERE table_name = 'accounts'", ALLOW, ALLOW],
  ]),

  ...category('joins', [
    ['SELECT a.owner, s.note FROM accounts a JOIN scratch s ON s.id = a.id', ALLOW, ALLOW],
    ['SELECT a.owner FROM accounts a JOIN secrets s ON s.id = a.id', SECRETS, ALLOW],
    ['SELECT * FROM accounts LEFT JOIN secrets USING (id)', SECRETS, ALLOW],
    ['SELECT * FROM accounts a, log l WHERE a.id = l.id', ALLOW, ALLOW],
    ['SELECT * FROM accounts NATURAL JOIN scratch', ALLOW, ALLOW],
    [
      'SELECT * FROM accounts CROSS JOIN LATERAL (SELECT token FROM secrets WHERE secrets.id = accounts.id) t',
      SECRETS,
      ALLOW,
    ],
    ['SELECT * FROM accounts FULL OUTER JOIN log ON log.id = accounts.id', ALLOW, ALLOW],
    ['SELECT a.id FROM accounts a JOIN accounts b ON b.id = a.id + 1', ALLOW, ALLOW],
    ['SELECT * FROM accounts a JOIN generate_series(1, 3) g(i) ON g.i = a.id', ALLOW, ALLOW],
    ['SELECT * FROM scratch s RIGHT JOIN secrets x ON x.id = s.id', SECRETS, ALLOW],
  ]),

  ...category('subqueries', [
    ['SELECT * FROM accounts WHERE id IN (SELECT id FROM scratch)', ALLOW, ALLOW],
    ['SELECT * FROM accounts WHERE id IN (SELECT id FROM secrets)', SECRETS, ALLOW],
    [
      'SELECT * FROM accounts WHERE EXISTS (SELECT 1 FROM secrets s WHERE s.id = accounts.id)',
      SECRETS,
      ALLOW,
    ],
    ['SELECT (SELECT token FROM secrets LIMIT 1) AS t', SECRETS, ALLOW],
    ['SELECT * FROM (SELECT id, balance FROM accounts) sub WHERE balance > 100', ALLOW, ALLOW],
    ['SELECT * FROM (SELECT * FROM (SELECT * FROM secrets) a) b', SECRETS, ALLOW],
    ['SELECT id FROM accounts UNION SELECT id FROM secrets', SECRETS, ALLOW],
    ['SELECT id FROM accounts EXCEPT SELECT id FROM scratch', ALLOW, ALLOW],
    ['SELECT id FROM accounts INTERSECT SELECT id FROM log', ALLOW, ALLOW],
    ['SELECT * FROM accounts WHERE balance > ALL (SELECT balance FROM accounts WHERE id < 3)', ALLOW, ALLOW],
    ['SELECT CASE WHEN EXISTS (SELECT 1 FROM secrets) THEN 1 END', SECRETS, ALLOW],
    ['SELECT array(SELECT id FROM accounts)', ALLOW, ALLOW],
    ['SELECT * FROM accounts WHERE owner = ANY (ARRAY(SELECT token FROM secrets))', SECRETS, ALLOW],
    ['SELECT coalesce((SELECT max(id) FROM log), 0)', ALLOW, ALLOW],
    ['SELECT * FROM accounts LIMIT (SELECT count(*) FROM secrets)', SECRETS, ALLOW],
    [
      "SELECT string_agg(owner, ',' ORDER BY (SELECT token FROM secrets LIMIT 1)) FROM accounts",
      SECRETS,
      ALLOW,
    ],
    [
      "SELECT * FROM XMLTABLE('/x' PASSING (SELECT token::xml FROM secrets LIMIT 1) COLUMNS a text)",
      SECRETS,
      ALLOW,
    ],
    ['SELECT * FROM ONLY secrets', SECRETS, ALLOW],
  ]),

  ...category('CTEs', [
    ['WITH rich AS (SELECT * FROM accounts WHERE balance > 100) SELECT count(*) FROM rich', ALLOW, ALLOW],
    // An unreferenced CTE still names the table it reads.
    ['WITH s AS (SELECT * FROM secrets) SELECT 1', SECRETS, ALLOW],
    [
      'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT sum(i) FROM n',
      ALLOW,
      ALLOW,
    ],
    [
      'WITH a AS (SELECT id FROM accounts), b AS (SELECT id FROM a WHERE id > 5) SELECT * FROM b',
      ALLOW,
      ALLOW,
    ],
    [
      'WITH x AS MATERIALIZED (SELECT * FROM accounts) SELECT * FROM x JOIN secrets USING (id)',
      SECRETS,
      ALLOW,
    ],
  ]),

  ...category('window functions', [
    ['SELECT id, sum(balance) OVER (ORDER BY id) FROM accounts', ALLOW, ALLOW],
    [
      'SELECT id, rank() OVER w FROM accounts WINDOW w AS (PARTITION BY owner ORDER BY balance)',
      ALLOW,
      ALLOW,
    ],
    ['SELECT id, lag(token) OVER (ORDER BY id) FROM secrets', SECRETS, ALLOW],
    [
      'SELECT id, balance - avg(balance) OVER () FROM accounts WHERE id IN (SELECT id FROM scratch)',
      ALLOW,
      ALLOW,
    ],
    [
      'SELECT id, first_value(balance) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM accounts',
      ALLOW,
      ALLOW,
    ],
    ['SELECT id, count(*) OVER (PARTITION BY id % 2) FROM accounts', ALLOW, ALLOW],
  ]),

  ...category('multi-statement messages', [
    ['SELECT 1; SELECT 2', ALLOW, ALLOW],
    ['SELECT count(*) FROM accounts; SELECT count(*) FROM log', ALLOW, ALLOW],
    [
      'SELECT * FROM accounts WHERE id = 1; SELECT * FROM accounts WHERE id = 2; SELECT * FROM accounts WHERE id = 3',
      ALLOW,
      ALLOW,
    ],
    ['SELECT 1; SELECT * FROM secrets', SECRETS, ALLOW],
    ['SELECT * FROM accounts; DELETE FROM accounts', READ_ONLY, APPROVE],
    ['SELECT 1; DROP TABLE accounts', READ_ONLY, NO_DDL],
    // The first refused statement names the rule.
    ["INSERT INTO scratch VALUES (1, 'a'); SELECT * FROM secrets", READ_ONLY, ALLOW],
    ["SELECT * FROM secrets; INSERT INTO scratch VALUES (1, 'a')", SECRETS, ALLOW],
    // A denial outweighs an earlier statement that only needs approval.
    ['DELETE FROM accounts; DROP TABLE secrets', READ_ONLY, NO_DDL],
    ["UPDATE accounts SET balance = 0; INSERT INTO scratch VALUES (2, 'b')", READ_ONLY, APPROVE],
    ["INSERT INTO scratch VALUES (3, 'c'); DELETE FROM scratch WHERE id = 3", READ_ONLY, ALLOW],
    ['SELECT 1; SET ROLE scram_user', GUARDED, GUARDED],
    ["SELECT 1; SELECT pg_read_file('/etc/hostname')", DENY_LISTED, DENY_LISTED],
    ['SELECT 1;; SELECT 2', ALLOW, ALLOW],
    ['SELECT 1; VACUUM accounts', READ_ONLY, NO_DDL],
    ['SHOW work_mem; DELETE FROM log', READ_ONLY, APPROVE],
    ['LISTEN corpus; TRUNCATE accounts', READ_ONLY, NO_DDL],
    ["SELECT 1; COPY accounts TO '/tmp/pgwarden-corpus.csv'", SERVER_FILE, SERVER_FILE],
    // Built-in rules run before the policy's: guarded-setting wins over no-secrets in one statement…
    ["SELECT set_config('role', 'scram_user', false) FROM secrets", GUARDED, GUARDED],
    // …but across statements the first refused statement decides.
    ["SELECT * FROM secrets; SELECT pg_read_file('/etc/hostname')", SECRETS, DENY_LISTED],
  ]),

  ...category('stacking after COMMIT/ROLLBACK', [
    ['COMMIT; DROP TABLE accounts', READ_ONLY, NO_DDL],
    ['ROLLBACK; DELETE FROM accounts', READ_ONLY, APPROVE],
    ['BEGIN; SELECT 1; COMMIT; TRUNCATE accounts', READ_ONLY, NO_DDL],
    ['BEGIN; SELECT 1; ROLLBACK; UPDATE accounts SET balance = 0', READ_ONLY, APPROVE],
    ['COMMIT; SET SESSION AUTHORIZATION scram_user', GUARDED, GUARDED],
    ["END; ALTER SYSTEM SET work_mem = '5MB'", READ_ONLY, NO_DDL],
    ['ABORT; GRANT ALL ON secrets TO scram_user', READ_ONLY, NO_DDL],
    ['COMMIT AND CHAIN; DELETE FROM secrets', READ_ONLY, APPROVE],
    ["BEGIN; COMMIT; BEGIN; INSERT INTO accounts VALUES (99, 'x', 0); COMMIT", READ_ONLY, APPROVE],
    [
      'BEGIN; SAVEPOINT a; ROLLBACK TO SAVEPOINT a; RELEASE SAVEPOINT a; COMMIT; DELETE FROM log',
      READ_ONLY,
      APPROVE,
    ],
    ['COMMIT; SELECT * FROM secrets', SECRETS, ALLOW],
    ['ROLLBACK; COMMIT; SELECT 1', ALLOW, ALLOW],
    ["BEGIN; INSERT INTO scratch VALUES (4, 'd'); COMMIT; SELECT count(*) FROM scratch", READ_ONLY, ALLOW],
    ["COMMIT; SELECT lo_import('/etc/hostname')", DENY_LISTED, DENY_LISTED],
  ]),

  ...category('PREPARE/EXECUTE/DEALLOCATE/DISCARD', [
    [PREPARED_READ, ALLOW, ALLOW],
    ['PREPARE leak AS SELECT * FROM secrets', SECRETS, ALLOW],
    ['PREPARE wipe AS DELETE FROM accounts', READ_ONLY, APPROVE],
    ['PREPARE zero AS UPDATE accounts SET balance = 0', READ_ONLY, APPROVE],
    [PREPARED_SCRATCH_INSERT, READ_ONLY, ALLOW],
    ['PREPARE nap AS SELECT pg_sleep(0.5)', DENY_LISTED, DENY_LISTED],
    ["PREPARE become AS SELECT set_config('role', 'scram_user', false)", GUARDED, GUARDED],
    ['PREPARE lock_all AS SELECT * FROM accounts FOR UPDATE', READ_ONLY, ALLOW],
    // EXECUTE is decided as what was PREPAREd under its name in the session.
    ['EXECUTE acct(3)', ALLOW, ALLOW, [PREPARED_READ]],
    ['EXECUTE note(7)', UNPREPARED, ALLOW, [PREPARED_SCRATCH_INSERT]],
    ['EXECUTE wipe', UNPREPARED, UNPREPARED, ['PREPARE wipe AS DELETE FROM accounts']],
    ['EXECUTE never_prepared', UNPREPARED, UNPREPARED],
    ['EXECUTE acct(1)', UNPREPARED, UNPREPARED, [PREPARED_READ, 'DEALLOCATE acct']],
    ['EXECUTE acct(1)', UNPREPARED, UNPREPARED, [PREPARED_READ, 'DEALLOCATE ALL']],
    // A PREPARE earlier in the same message is in the session when the EXECUTE runs.
    ['PREPARE one AS SELECT 1; EXECUTE one', ALLOW, ALLOW],
    // Re-preparing a name cannot smuggle a refused statement under an allowed one.
    [
      'DEALLOCATE acct; PREPARE acct AS DELETE FROM accounts; EXECUTE acct',
      READ_ONLY,
      APPROVE,
      [PREPARED_READ],
    ],
    ['EXPLAIN EXECUTE acct(2)', ALLOW, ALLOW, [PREPARED_READ]],
    ['DEALLOCATE acct', ALLOW, ALLOW, [PREPARED_READ]],
    ['DEALLOCATE PREPARE acct', ALLOW, ALLOW, [PREPARED_READ]],
    ['DEALLOCATE ALL', ALLOW, ALLOW],
    ['DISCARD ALL', GUARDED, GUARDED],
    ['DISCARD PLANS', ALLOW, ALLOW],
    ['DISCARD SEQUENCES', ALLOW, ALLOW],
    ['DISCARD TEMP', ALLOW, ALLOW],
  ]),

  ...category('DECLARE/FETCH/CLOSE', [
    ['BEGIN; DECLARE c CURSOR FOR SELECT * FROM accounts; FETCH 2 FROM c; CLOSE c; COMMIT', ALLOW, ALLOW],
    ['BEGIN; DECLARE c CURSOR FOR SELECT * FROM secrets; FETCH c', SECRETS, ALLOW],
    ['BEGIN; DECLARE c CURSOR FOR SELECT * FROM accounts FOR UPDATE; FETCH c', READ_ONLY, ALLOW],
    ["BEGIN; DECLARE c CURSOR FOR SELECT pg_read_file('/etc/hostname'); FETCH c", DENY_LISTED, DENY_LISTED],
    [
      'BEGIN; DECLARE c SCROLL CURSOR FOR SELECT id FROM accounts ORDER BY id; MOVE LAST IN c; FETCH PRIOR FROM c; CLOSE c',
      ALLOW,
      ALLOW,
    ],
    ['DECLARE h CURSOR WITH HOLD FOR SELECT * FROM log; FETCH ALL FROM h; CLOSE h', ALLOW, ALLOW],
    ["BEGIN; DECLARE c CURSOR FOR SELECT nextval('log_id_seq'); FETCH c", READ_ONLY, ALLOW],
    [
      'BEGIN; DECLARE c BINARY CURSOR FOR SELECT owner FROM accounts WHERE id IN (SELECT id FROM secrets); FETCH c',
      SECRETS,
      ALLOW,
    ],
    ['BEGIN; DECLARE c CURSOR FOR SELECT 1; CLOSE ALL; COMMIT', ALLOW, ALLOW],
    [
      'BEGIN; DECLARE c CURSOR FOR SELECT * FROM accounts; FETCH c; DELETE FROM accounts WHERE CURRENT OF c',
      READ_ONLY,
      APPROVE,
    ],
    [
      "BEGIN; DECLARE c CURSOR FOR SELECT * FROM scratch FOR UPDATE; UPDATE scratch SET note = 'cur' WHERE CURRENT OF c",
      READ_ONLY,
      ALLOW,
    ],
    ['FETCH 1 FROM no_such_cursor', ALLOW, ALLOW],
    ['CLOSE no_such_cursor', ALLOW, ALLOW],
  ]),

  ...category('data-modifying CTEs', [
    ['WITH d AS (DELETE FROM accounts RETURNING *) SELECT count(*) FROM d', READ_ONLY, APPROVE],
    ["WITH i AS (INSERT INTO scratch VALUES (10, 'cte') RETURNING id) SELECT * FROM i", READ_ONLY, ALLOW],
    ['WITH d AS (DELETE FROM scratch RETURNING *) INSERT INTO scratch SELECT * FROM d', READ_ONLY, ALLOW],
    // Writing scratch while reading accounts is not a scratch-only write.
    [
      "WITH u AS (UPDATE scratch SET note = 'u' RETURNING id) SELECT * FROM u JOIN accounts USING (id)",
      READ_ONLY,
      APPROVE,
    ],
    [
      'WITH x AS (SELECT * FROM accounts), d AS (DELETE FROM scratch) SELECT count(*) FROM x',
      READ_ONLY,
      APPROVE,
    ],
    [
      'WITH d AS (DELETE FROM accounts RETURNING id, owner) INSERT INTO scratch SELECT id, owner FROM d',
      READ_ONLY,
      APPROVE,
    ],
    ["WITH d AS (INSERT INTO accounts VALUES (100, 'x', 1) RETURNING *) SELECT * FROM d", READ_ONLY, APPROVE],
    // An unreferenced data-modifying CTE still runs.
    [
      'WITH a AS (SELECT 1), d AS (DELETE FROM accounts WHERE id = 1 RETURNING *) SELECT * FROM a',
      READ_ONLY,
      APPROVE,
    ],
    // Nested ones (PostgreSQL rejects them, but only after pgwarden has decided).
    [
      'SELECT * FROM (WITH d AS (UPDATE accounts SET balance = 0 RETURNING id) SELECT * FROM d) s',
      READ_ONLY,
      APPROVE,
    ],
    ['SELECT (WITH d AS (DELETE FROM log RETURNING id) SELECT count(*) FROM d)', READ_ONLY, APPROVE],
    [
      'SELECT * FROM accounts WHERE id IN (WITH d AS (DELETE FROM secrets RETURNING id) SELECT id FROM d)',
      READ_ONLY,
      APPROVE,
    ],
    // read-only-access refuses a data-modifying WITH even where EXPLAIN would not run it.
    ['EXPLAIN WITH d AS (DELETE FROM accounts RETURNING *) SELECT * FROM d', READ_ONLY, ALLOW],
  ]),

  ...category('SELECT INTO / CREATE TABLE AS', [
    ['SELECT * INTO stolen FROM secrets', READ_ONLY, NO_DDL],
    ['SELECT id INTO TEMP t FROM accounts', READ_ONLY, NO_DDL],
    ['CREATE TABLE stolen AS SELECT * FROM accounts', READ_ONLY, NO_DDL],
    ['CREATE TEMP TABLE t AS SELECT 1 AS x', READ_ONLY, NO_DDL],
    ['CREATE TABLE IF NOT EXISTS copy_of AS TABLE accounts WITH NO DATA', READ_ONLY, NO_DDL],
    ['CREATE MATERIALIZED VIEW mv AS SELECT * FROM accounts', READ_ONLY, NO_DDL],
    ['EXPLAIN ANALYZE CREATE TABLE t2 AS SELECT 1', READ_ONLY, NO_DDL],
    // Without ANALYZE it is only planned.
    ['EXPLAIN CREATE TABLE t2 AS SELECT 1', ALLOW, ALLOW],
  ]),

  ...category('EXPLAIN', [
    ['EXPLAIN SELECT * FROM accounts', ALLOW, ALLOW],
    ['EXPLAIN SELECT * FROM secrets', SECRETS, ALLOW],
    ['EXPLAIN VERBOSE SELECT * FROM accounts JOIN secrets USING (id)', SECRETS, ALLOW],
    ['EXPLAIN ANALYZE SELECT * FROM accounts WHERE id = 1', ALLOW, ALLOW],
    ['EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT count(*) FROM log', ALLOW, ALLOW],
    ['EXPLAIN DELETE FROM accounts', ALLOW, ALLOW],
    ['EXPLAIN UPDATE accounts SET balance = 0', ALLOW, ALLOW],
    ['EXPLAIN (ANALYZE false) DELETE FROM accounts', ALLOW, ALLOW],
    ['EXPLAIN ANALYZE DELETE FROM accounts', READ_ONLY, APPROVE],
    ['EXPLAIN ANALYZE UPDATE accounts SET balance = balance + 1', READ_ONLY, APPROVE],
    ["EXPLAIN (ANALYZE) INSERT INTO scratch VALUES (20, 'explained')", READ_ONLY, ALLOW],
    ['EXPLAIN (ANALYZE true, COSTS false) DELETE FROM secrets', READ_ONLY, APPROVE],
    [
      'EXPLAIN ANALYZE MERGE INTO accounts a USING scratch s ON a.id = s.id WHEN MATCHED THEN DELETE',
      READ_ONLY,
      APPROVE,
    ],
    [
      'EXPLAIN (ANALYZE, VERBOSE) WITH d AS (DELETE FROM accounts RETURNING *) SELECT * FROM d',
      READ_ONLY,
      APPROVE,
    ],
    ['EXPLAIN ANALYZE SELECT pg_sleep(0.5)', DENY_LISTED, DENY_LISTED],
    // The deny list applies wherever the call is, even in a statement only planned.
    ["EXPLAIN SELECT pg_read_file('/etc/hostname')", DENY_LISTED, DENY_LISTED],
    ["EXPLAIN ANALYZE SELECT nextval('log_id_seq')", READ_ONLY, ALLOW],
    ['EXPLAIN ANALYZE SELECT * FROM accounts FOR UPDATE', READ_ONLY, ALLOW],
  ]),

  ...category('SELECT FOR UPDATE/SHARE', [
    ['SELECT * FROM accounts WHERE id = 1 FOR UPDATE', READ_ONLY, ALLOW],
    ['SELECT * FROM accounts FOR SHARE', READ_ONLY, ALLOW],
    ['SELECT * FROM accounts WHERE id = 2 FOR NO KEY UPDATE NOWAIT', READ_ONLY, ALLOW],
    ['SELECT * FROM accounts FOR KEY SHARE SKIP LOCKED', READ_ONLY, ALLOW],
    ['SELECT * FROM (SELECT * FROM accounts FOR UPDATE) s', READ_ONLY, ALLOW],
    ['SELECT a.* FROM accounts a JOIN scratch s USING (id) FOR UPDATE OF a', READ_ONLY, ALLOW],
    // Built-in rules come first: read-only-access, not no-secrets.
    ['SELECT * FROM secrets FOR UPDATE', READ_ONLY, ALLOW],
  ]),

  ...category('LOCK TABLE', [
    ['LOCK TABLE accounts', READ_ONLY, ALLOW],
    ['BEGIN; LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE; ROLLBACK', READ_ONLY, ALLOW],
    ['BEGIN; LOCK scratch, log IN SHARE MODE; COMMIT', READ_ONLY, ALLOW],
    ['BEGIN; LOCK TABLE secrets IN ROW EXCLUSIVE MODE NOWAIT', READ_ONLY, ALLOW],
  ]),

  ...category('DO/CALL/CREATE FUNCTION/PROCEDURE', [
    ['DO $$ BEGIN DELETE FROM accounts; END $$', READ_ONLY, NO_DDL],
    ['DO $$ BEGIN PERFORM 1; END $$', READ_ONLY, NO_DDL],
    ["DO LANGUAGE plpgsql $$ BEGIN EXECUTE 'DROP TABLE secrets'; END $$", READ_ONLY, NO_DDL],
    ['SELECT 1; DO $$ BEGIN NULL; END $$', READ_ONLY, NO_DDL],
    ['CALL some_procedure()', READ_ONLY, NO_DDL],
    ["CALL public.refresh(1, 'x')", READ_ONLY, NO_DDL],
    ['CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$', READ_ONLY, NO_DDL],
    [
      'CREATE OR REPLACE FUNCTION wipe() RETURNS void LANGUAGE sql AS $$ DELETE FROM accounts $$',
      READ_ONLY,
      NO_DDL,
    ],
    ["CREATE PROCEDURE p() LANGUAGE sql AS $$ INSERT INTO scratch VALUES (1, 'p') $$", READ_ONLY, NO_DDL],
    [
      'CREATE FUNCTION f2(int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $$ BEGIN RETURN $1; END $$',
      READ_ONLY,
      NO_DDL,
    ],
    ['DROP FUNCTION IF EXISTS f()', READ_ONLY, NO_DDL],
    ['CREATE TRIGGER t BEFORE INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION f()', READ_ONLY, NO_DDL],
  ]),

  ...category('side-effect functions', [
    ['SELECT pg_terminate_backend(2147483647)', DENY_LISTED, DENY_LISTED],
    [
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND false',
      DENY_LISTED,
      DENY_LISTED,
    ],
    ['SELECT pg_cancel_backend(2147483647)', DENY_LISTED, DENY_LISTED],
    ["SELECT pg_read_file('/etc/hostname')", DENY_LISTED, DENY_LISTED],
    ["SELECT pg_catalog.pg_read_file('/etc/hostname')", DENY_LISTED, DENY_LISTED],
    ["SELECT PG_READ_FILE('/etc/hostname')", DENY_LISTED, DENY_LISTED],
    ['SELECT "pg_read_file"(\'/etc/hostname\')', DENY_LISTED, DENY_LISTED],
    ["SELECT length(pg_read_binary_file('/etc/hostname'))", DENY_LISTED, DENY_LISTED],
    ["SELECT lower(upper(pg_read_file('/etc/hostname')))", DENY_LISTED, DENY_LISTED],
    ["VALUES (pg_read_file('/etc/hostname'))", DENY_LISTED, DENY_LISTED],
    ["SELECT * FROM pg_ls_dir('.')", DENY_LISTED, DENY_LISTED],
    ["SELECT pg_stat_file('postgresql.conf')", DENY_LISTED, DENY_LISTED],
    ["SELECT lo_export(0, '/tmp/pgwarden-corpus-lo')", DENY_LISTED, DENY_LISTED],
    ["SELECT lo_import('/etc/hostname')", DENY_LISTED, DENY_LISTED],
    ['SELECT lo_create(0)', DENY_LISTED, DENY_LISTED],
    ["SELECT dblink_exec('dbname=app', 'DROP TABLE accounts')", DENY_LISTED, DENY_LISTED],
    ["SELECT * FROM dblink('dbname=app', 'SELECT 1') AS t(x int)", DENY_LISTED, DENY_LISTED],
    ["SELECT dblink_connect('c', 'dbname=app')", DENY_LISTED, DENY_LISTED],
    ["SELECT set_config('role', 'scram_user', false)", GUARDED, GUARDED],
    ["SELECT set_config('ROLE', 'scram_user', false)", GUARDED, GUARDED],
    ["SELECT set_config('session_authorization', 'scram_user', false)", GUARDED, GUARDED],
    ["SELECT set_config('default_transaction_read_only', 'off', false)", GUARDED, GUARDED],
    ["SELECT set_config('transaction_read_only', 'off', true)", GUARDED, GUARDED],
    // A setting whose name is not a literal cannot be checked.
    [
      "SELECT set_config(name, 'off', false) FROM (VALUES ('default_transaction_read_only')) v(name)",
      GUARDED,
      GUARDED,
    ],
    ["SELECT set_config('search_path', 'pg_catalog', false)", GUARDED, ALLOW],
    ["SELECT set_config('statement_timeout', '10s', false)", ALLOW, GUARDED],
    ["SELECT set_config('statement_timeout', '2s', false)", ALLOW, ALLOW],
    ["SELECT set_config('application_name', 'corpus', false)", ALLOW, ALLOW],
    ["SELECT nextval('log_id_seq')", READ_ONLY, ALLOW],
    ["SELECT setval('log_id_seq', 1000)", READ_ONLY, ALLOW],
    ["SELECT currval('log_id_seq')", ALLOW, ALLOW],
    ['SELECT pg_advisory_lock(42)', DENY_LISTED, DENY_LISTED],
    ['SELECT pg_try_advisory_xact_lock(42)', DENY_LISTED, DENY_LISTED],
    ['SELECT pg_advisory_unlock_all()', DENY_LISTED, DENY_LISTED],
    [
      'SELECT * FROM generate_series(1, 2) g, LATERAL (SELECT pg_advisory_lock(g)) l',
      DENY_LISTED,
      DENY_LISTED,
    ],
    ['SELECT pg_sleep(0.5)', DENY_LISTED, DENY_LISTED],
    ["SELECT pg_sleep_for('500 milliseconds')", DENY_LISTED, DENY_LISTED],
    ['SELECT id FROM accounts ORDER BY pg_sleep(0.01)', DENY_LISTED, DENY_LISTED],
    ['WITH t AS (SELECT pg_sleep(0.5)) SELECT 1', DENY_LISTED, DENY_LISTED],
    [
      'SELECT * FROM accounts WHERE id = (SELECT pg_terminate_backend(2147483647)::int)',
      DENY_LISTED,
      DENY_LISTED,
    ],
    ["SELECT query_to_xml('SELECT * FROM secrets', true, false, '')", DENY_LISTED, DENY_LISTED],
    ["SELECT table_to_xml('secrets', true, false, '')", DENY_LISTED, DENY_LISTED],
    ['SELECT pg_reload_conf()', DENY_LISTED, DENY_LISTED],
    ['SELECT pg_switch_wal()', DENY_LISTED, DENY_LISTED],
    ['SELECT pg_stat_reset()', DENY_LISTED, DENY_LISTED],
    ["SELECT pg_create_restore_point('corpus')", DENY_LISTED, DENY_LISTED],
    ["SELECT pg_notify('corpus', 'hello')", ALLOW, ALLOW],
    ["SELECT current_setting('search_path')", ALLOW, ALLOW],
    ["SELECT * FROM pg_read_file('/etc/hostname')", DENY_LISTED, DENY_LISTED],
    ["SELECT * FROM ROWS FROM (pg_ls_dir('.'), generate_series(1, 2))", DENY_LISTED, DENY_LISTED],
    // ts_rewrite(query, select) runs the SELECT given as a string, like ts_stat and query_to_xml:
    // the policy sees neither the tables it reads nor the functions it calls.
    [
      "SELECT ts_rewrite('x'::tsquery, $$SELECT 'x'::tsquery, plainto_tsquery('simple', token) FROM secrets$$)",
      DENY_LISTED,
      DENY_LISTED,
    ],
    [
      "SELECT ts_rewrite('x'::tsquery, $$SELECT 'x'::tsquery, plainto_tsquery(pg_read_file('/etc/hostname'))$$)",
      DENY_LISTED,
      DENY_LISTED,
    ],
  ]),

  ...category('COPY', [
    ['COPY accounts TO STDOUT', ALLOW, ALLOW],
    ['COPY (SELECT id, owner FROM accounts WHERE id < 3) TO STDOUT WITH (FORMAT csv)', ALLOW, ALLOW],
    ['COPY secrets TO STDOUT', SECRETS, ALLOW],
    ['COPY (SELECT * FROM accounts JOIN secrets USING (id)) TO STDOUT', SECRETS, ALLOW],
    ['COPY scratch FROM STDIN', READ_ONLY, ALLOW],
    ['COPY scratch (id, note) FROM STDIN WITH (FORMAT csv)', READ_ONLY, ALLOW],
    ['COPY accounts FROM STDIN', READ_ONLY, APPROVE],
    ['COPY secrets FROM STDIN', READ_ONLY, APPROVE],
    // The WHERE clause reads accounts: not a scratch-only write.
    ['COPY scratch FROM STDIN WHERE id > (SELECT max(id) FROM accounts)', READ_ONLY, APPROVE],
    // COPY of a data-modifying query runs it.
    ['COPY (DELETE FROM accounts RETURNING *) TO STDOUT', READ_ONLY, APPROVE],
    ["COPY (INSERT INTO scratch VALUES (30, 'copied') RETURNING *) TO STDOUT", READ_ONLY, ALLOW],
    ["COPY (SELECT pg_read_file('/etc/hostname')) TO STDOUT", DENY_LISTED, DENY_LISTED],
    ["COPY scratch FROM STDIN WHERE pg_read_file('/etc/hostname') IS NOT NULL", DENY_LISTED, DENY_LISTED],
    ["COPY accounts TO '/tmp/pgwarden-corpus.csv'", SERVER_FILE, SERVER_FILE],
    ["COPY scratch FROM '/etc/hostname'", SERVER_FILE, SERVER_FILE],
    ["COPY scratch FROM PROGRAM 'echo 1,x' WITH (FORMAT csv)", SERVER_FILE, SERVER_FILE],
    ["COPY accounts TO PROGRAM 'cat > /dev/null'", SERVER_FILE, SERVER_FILE],
    ["COPY (SELECT 1) TO PROGRAM 'true'", SERVER_FILE, SERVER_FILE],
  ]),

  ...category('SET/RESET of guarded settings', [
    ['SET ROLE scram_user', GUARDED, GUARDED],
    ['SET ROLE NONE', GUARDED, GUARDED],
    ['RESET ROLE', GUARDED, GUARDED],
    ['SET LOCAL ROLE scram_user', GUARDED, GUARDED],
    ['SET "role" TO \'scram_user\'', GUARDED, GUARDED],
    ['SET SESSION AUTHORIZATION scram_user', GUARDED, GUARDED],
    ['SET SESSION AUTHORIZATION DEFAULT', GUARDED, GUARDED],
    ['RESET SESSION AUTHORIZATION', GUARDED, GUARDED],
    ['SET default_transaction_read_only = off', GUARDED, GUARDED],
    ['SET default_transaction_read_only TO on', GUARDED, GUARDED],
    ['SET SESSION DEFAULT_TRANSACTION_READ_ONLY = false', GUARDED, GUARDED],
    ['RESET default_transaction_read_only', GUARDED, GUARDED],
    ['SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE', GUARDED, GUARDED],
    ['SET transaction_read_only = off', GUARDED, GUARDED],
    ['RESET transaction_read_only', GUARDED, GUARDED],
    ["BEGIN; SET LOCAL transaction_read_only = off; INSERT INTO scratch VALUES (40, 'x')", GUARDED, GUARDED],
    ['SET search_path = pg_catalog, public', GUARDED, ALLOW],
    ['SET search_path TO DEFAULT', GUARDED, ALLOW],
    ['RESET search_path', GUARDED, ALLOW],
    ['SET LOCAL search_path = public', GUARDED, ALLOW],
    ['RESET ALL', GUARDED, GUARDED],
  ]),

  // pgwarden reads SQL as PostgreSQL does with standard strings and a client encoding in which
  // "\" and "'" are always characters of their own; settings that change that would let the
  // server split a message differently from the statements pgwarden decided.
  ...category('settings that change how SQL text is read', [
    ['SET standard_conforming_strings = off', GUARDED, GUARDED],
    ["SELECT set_config('standard_conforming_strings', 'off', false)", GUARDED, GUARDED],
    ['SET backslash_quote = on', GUARDED, GUARDED],
    ["SET client_encoding = 'SJIS'", GUARDED, GUARDED],
    ["SET NAMES 'GBK'", GUARDED, GUARDED],
    ["SELECT set_config('client_encoding', 'BIG5', false)", GUARDED, GUARDED],
    // PostgreSQL's other names for the same encodings: it ignores case and every non-alphanumeric.
    ["SET client_encoding = 'WINDOWS932'", GUARDED, GUARDED],
    ["SET client_encoding = 'Windows-936'", GUARDED, GUARDED],
    ["SET client_encoding = 'windows949'", GUARDED, GUARDED],
    ["SET client_encoding = 'windows950'", GUARDED, GUARDED],
    ["SET client_encoding = 'S.J.I.S'", GUARDED, GUARDED],
    ["SET client_encoding = 'UTF8'", ALLOW, ALLOW],
    ["SET client_encoding = 'LATIN1'", ALLOW, ALLOW],
    ['RESET client_encoding', ALLOW, ALLOW],
  ]),

  // The read-write policy limits statements to 3s; the read-only one sets no limit.
  ...category('statement_timeout', [
    ["SET statement_timeout = '1s'", ALLOW, ALLOW],
    ['SET statement_timeout = 3000', ALLOW, ALLOW],
    ["SET LOCAL statement_timeout = '500ms'", ALLOW, ALLOW],
    ['SET statement_timeout TO DEFAULT', ALLOW, ALLOW],
    ['RESET statement_timeout', ALLOW, ALLOW],
    ['SET statement_timeout = 3001', ALLOW, GUARDED],
    ["SET statement_timeout = '1h'", ALLOW, GUARDED],
    ["SET statement_timeout = '5min'", ALLOW, GUARDED],
    ["SET SESSION statement_timeout = '10s'", ALLOW, GUARDED],
    ['SET statement_timeout = 0', ALLOW, GUARDED],
  ]),

  ...category('other settings', [
    ["SET application_name = 'corpus'", ALLOW, ALLOW],
    ["SET work_mem = '8MB'", ALLOW, ALLOW],
    ["SET TIME ZONE 'UTC'", ALLOW, ALLOW],
    ['RESET work_mem', ALLOW, ALLOW],
    ["SET lock_timeout = '1s'", ALLOW, ALLOW],
  ]),

  ...category('transaction modes', [
    ['BEGIN', ALLOW, ALLOW],
    ['COMMIT', ALLOW, ALLOW],
    ['ROLLBACK', ALLOW, ALLOW],
    ['SAVEPOINT s', ALLOW, ALLOW],
    ['BEGIN; SAVEPOINT s; RELEASE SAVEPOINT s; ROLLBACK', ALLOW, ALLOW],
    ['BEGIN READ WRITE', READ_ONLY, ALLOW],
    ['START TRANSACTION READ WRITE', READ_ONLY, ALLOW],
    ['BEGIN ISOLATION LEVEL SERIALIZABLE, READ WRITE', READ_ONLY, ALLOW],
    ['BEGIN; SET TRANSACTION READ WRITE', READ_ONLY, ALLOW],
    ["BEGIN READ WRITE; INSERT INTO scratch VALUES (50, 'rw'); COMMIT", READ_ONLY, ALLOW],
    ['BEGIN READ ONLY', ALLOW, ALLOW],
    ['START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY, DEFERRABLE', ALLOW, ALLOW],
    ['BEGIN; SET TRANSACTION READ ONLY; SELECT 1', ALLOW, ALLOW],
    ['BEGIN; SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; COMMIT', ALLOW, ALLOW],
  ]),

  ...category('LISTEN/NOTIFY/UNLISTEN', [
    ['LISTEN corpus', ALLOW, ALLOW],
    ["NOTIFY corpus, 'hi'", ALLOW, ALLOW],
    ['UNLISTEN *', ALLOW, ALLOW],
    ['LISTEN a; NOTIFY a; UNLISTEN a', ALLOW, ALLOW],
    ['NOTIFY corpus; DELETE FROM accounts', READ_ONLY, APPROVE],
  ]),

  ...category('VACUUM/ANALYZE and other admin', [
    ['VACUUM accounts', READ_ONLY, NO_DDL],
    ['VACUUM (FULL, ANALYZE) scratch', READ_ONLY, NO_DDL],
    ['VACUUM', READ_ONLY, NO_DDL],
    ['ANALYZE accounts', READ_ONLY, NO_DDL],
    ['ANALYZE', READ_ONLY, NO_DDL],
    ['CLUSTER accounts USING accounts_pkey', READ_ONLY, NO_DDL],
    ['REINDEX TABLE accounts', READ_ONLY, NO_DDL],
    ['CHECKPOINT', READ_ONLY, NO_DDL],
    ['CREATE DATABASE corpus_db', READ_ONLY, NO_DDL],
    ['CREATE PUBLICATION everything FOR ALL TABLES', READ_ONLY, NO_DDL],
    ["LOAD 'auto_explain'", READ_ONLY, NO_DDL],
  ]),

  ...category('ALTER SYSTEM', [
    ["ALTER SYSTEM SET work_mem = '5MB'", READ_ONLY, NO_DDL],
    ['ALTER SYSTEM SET default_transaction_read_only = off', READ_ONLY, NO_DDL],
    ['ALTER SYSTEM RESET ALL', READ_ONLY, NO_DDL],
    ['ALTER DATABASE app SET default_transaction_read_only = off', READ_ONLY, NO_DDL],
    ["ALTER ROLE pgwarden SET role = 'scram_user'", READ_ONLY, NO_DDL],
  ]),

  ...category('CREATE TEMP TABLE', [
    ['CREATE TEMP TABLE t (x int)', READ_ONLY, NO_DDL],
    ['CREATE TEMPORARY TABLE t (x int) ON COMMIT DROP', READ_ONLY, NO_DDL],
    // A temporary "scratch" is still DDL; scratch-writes is about writing rows.
    ['CREATE TEMP TABLE scratch (id int)', READ_ONLY, NO_DDL],
    ['BEGIN; CREATE TEMP TABLE t (x int); INSERT INTO t VALUES (1); COMMIT', READ_ONLY, NO_DDL],
    ['CREATE TEMP VIEW v AS SELECT * FROM secrets', READ_ONLY, NO_DDL],
  ]),

  ...category('GRANT/REVOKE/roles', [
    ['GRANT ALL ON secrets TO scram_user', READ_ONLY, NO_DDL],
    ['REVOKE ALL ON accounts FROM PUBLIC', READ_ONLY, NO_DDL],
    ['GRANT pg_read_server_files TO scram_user', READ_ONLY, NO_DDL],
    ['ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO scram_user', READ_ONLY, NO_DDL],
    ['CREATE ROLE intruder LOGIN SUPERUSER', READ_ONLY, NO_DDL],
    ['CREATE USER mallory', READ_ONLY, NO_DDL],
    ['ALTER ROLE scram_user SUPERUSER', READ_ONLY, NO_DDL],
    ['DROP ROLE IF EXISTS md5_user', READ_ONLY, NO_DDL],
  ]),

  ...category('writes to scratch', [
    ["INSERT INTO scratch VALUES (60, 'ok')", READ_ONLY, ALLOW],
    ["INSERT INTO scratch (id, note) VALUES (61, 'a'), (62, 'b') RETURNING id", READ_ONLY, ALLOW],
    ["INSERT INTO scratch VALUES (64, 'x') ON CONFLICT DO NOTHING", READ_ONLY, ALLOW],
    ["UPDATE scratch SET note = 'updated' WHERE id = 60", READ_ONLY, ALLOW],
    ['UPDATE scratch SET id = id + 1 WHERE id IN (SELECT id FROM scratch WHERE id > 100)', READ_ONLY, ALLOW],
    ['DELETE FROM scratch WHERE id = 61', READ_ONLY, ALLOW],
    [
      "MERGE INTO scratch s USING (VALUES (63, 'm')) v(id, note) ON s.id = v.id WHEN MATCHED THEN UPDATE SET note = v.note WHEN NOT MATCHED THEN INSERT VALUES (v.id, v.note)",
      READ_ONLY,
      ALLOW,
    ],
    ["INSERT INTO scratch VALUES (nextval('log_id_seq'), 'seq')", READ_ONLY, ALLOW],
    ['INSERT INTO scratch DEFAULT VALUES', READ_ONLY, ALLOW],
    ['INSERT INTO scratch SELECT * FROM scratch WHERE id < 0', READ_ONLY, ALLOW],
    // scratch-writes allows a statement only when every table it uses is scratch.
    ['INSERT INTO scratch SELECT id, owner FROM accounts', READ_ONLY, APPROVE],
    ['UPDATE scratch SET note = (SELECT token FROM secrets LIMIT 1)', READ_ONLY, APPROVE],
    ["UPDATE scratch SET note = 'x' RETURNING (SELECT token FROM secrets LIMIT 1)", READ_ONLY, APPROVE],
    ['DELETE FROM scratch USING accounts WHERE scratch.id = accounts.id', READ_ONLY, APPROVE],
    [
      'INSERT INTO scratch VALUES (68, NULL) ON CONFLICT (id) DO UPDATE SET note = (SELECT token FROM secrets LIMIT 1)',
      READ_ONLY,
      APPROVE,
    ],
    [
      'MERGE INTO scratch s USING (VALUES (1)) v(id) ON s.id = v.id WHEN MATCHED AND (SELECT count(*) FROM accounts) > 0 THEN DELETE',
      READ_ONLY,
      APPROVE,
    ],
    [
      'MERGE INTO scratch s USING accounts a ON s.id = a.id WHEN NOT MATCHED THEN INSERT VALUES (a.id, a.owner)',
      READ_ONLY,
      APPROVE,
    ],
    ["INSERT INTO scratch VALUES (67, pg_read_file('/etc/hostname'))", DENY_LISTED, DENY_LISTED],
  ]),

  ...category('writes to other tables', [
    ["INSERT INTO accounts VALUES (101, 'intruder', 0)", READ_ONLY, APPROVE],
    ['UPDATE accounts SET balance = 0', READ_ONLY, APPROVE],
    ['DELETE FROM accounts WHERE id = 1', READ_ONLY, APPROVE],
    ['DELETE FROM ONLY accounts', READ_ONLY, APPROVE],
    ['MERGE INTO accounts a USING scratch s ON a.id = s.id WHEN MATCHED THEN DELETE', READ_ONLY, APPROVE],
    ["INSERT INTO log (entry) VALUES ('x')", READ_ONLY, APPROVE],
    ['DELETE FROM secrets', READ_ONLY, APPROVE],
    ["UPDATE secrets SET token = 'stolen'", READ_ONLY, APPROVE],
  ]),

  ...category('TRUNCATE and other DDL', [
    ['TRUNCATE accounts', READ_ONLY, NO_DDL],
    ['TRUNCATE scratch', READ_ONLY, NO_DDL],
    ['TRUNCATE TABLE secrets, log RESTART IDENTITY CASCADE', READ_ONLY, NO_DDL],
    ['DROP TABLE accounts', READ_ONLY, NO_DDL],
    ['DROP TABLE IF EXISTS scratch', READ_ONLY, NO_DDL],
    ['ALTER TABLE accounts ADD COLUMN x int', READ_ONLY, NO_DDL],
    ['ALTER TABLE scratch RENAME TO scratch2', READ_ONLY, NO_DDL],
    ['CREATE INDEX ON accounts (owner)', READ_ONLY, NO_DDL],
    ['CREATE TABLE t (x int)', READ_ONLY, NO_DDL],
    ["COMMENT ON TABLE accounts IS 'x'", READ_ONLY, NO_DDL],
    ['CREATE SCHEMA s', READ_ONLY, NO_DDL],
    ['CREATE EXTENSION IF NOT EXISTS dblink', READ_ONLY, NO_DDL],
    ['CREATE VIEW v AS SELECT * FROM secrets', READ_ONLY, NO_DDL],
  ]),

  ...category('SHOW', [
    ['SHOW search_path', ALLOW, ALLOW],
    ['SHOW ALL', ALLOW, ALLOW],
    ['SHOW statement_timeout', ALLOW, ALLOW],
    ['SHOW transaction_read_only', ALLOW, ALLOW],
  ]),

  ...category('empty statements and comments', [
    ['', ALLOW, ALLOW],
    [';', ALLOW, ALLOW],
    [';;;', ALLOW, ALLOW],
    [' \n\t ', ALLOW, ALLOW],
    ['-- just a comment', ALLOW, ALLOW],
    ['/* block comment */', ALLOW, ALLOW],
    ['SELECT 1 /* ; DROP TABLE accounts */', ALLOW, ALLOW],
    ['SELECT 1 -- ; DELETE FROM accounts', ALLOW, ALLOW],
    ['SELECT 1; -- DROP TABLE accounts\n', ALLOW, ALLOW],
    ['SELECT /* nested /* comment */ still a comment */ 1', ALLOW, ALLOW],
    ['SELECT $$; DROP TABLE accounts; $$', ALLOW, ALLOW],
    ["SELECT 'DELETE FROM accounts'", ALLOW, ALLOW],
    ['/* x */ DELETE FROM accounts', READ_ONLY, APPROVE],
  ]),

  ...category('quoted and qualified names', [
    ['SELECT * FROM "public"."secrets"', SECRETS, ALLOW],
    ['SELECT * FROM public . secrets', SECRETS, ALLOW],
    ['SELECT "token" FROM "secrets"', SECRETS, ALLOW],
    ['SELECT * FROM SECRETS', SECRETS, ALLOW],
    // Matching ignores case, so a deny rule cannot be dodged by quoting a different case.
    ['SELECT * FROM "Secrets"', SECRETS, ALLOW],
    ['SELECT * FROM U&"secr\\0065ts"', SECRETS, ALLOW],
    // A pattern without a schema matches the name in every schema.
    ['SELECT * FROM other.secrets', SECRETS, ALLOW],
    ['SELECT * FROM pg_temp.secrets', SECRETS, ALLOW],
    ["INSERT INTO public.scratch VALUES (65, 'qualified')", READ_ONLY, ALLOW],
    ['INSERT INTO "scratch" VALUES (66, \'quoted\')', READ_ONLY, ALLOW],
    ['INSERT INTO "public"."scratch" VALUES (70, \'q\')', READ_ONLY, ALLOW],
    ['UPDATE "public"."accounts" SET balance = 1', READ_ONLY, APPROVE],
    ['DELETE FROM "accounts" WHERE "id" = 1', READ_ONLY, APPROVE],
  ]),

  ...category('statements that do not parse', [
    ['SELEC 1', UNPARSABLE, UNPARSABLE],
    ['SELECT * FROM', UNPARSABLE, UNPARSABLE],
    ['DROP TABLE', UNPARSABLE, UNPARSABLE],
    ["SELECT 'unterminated", UNPARSABLE, UNPARSABLE],
    ['SELECT $$unterminated', UNPARSABLE, UNPARSABLE],
    ['DELETE FROM accounts WHERE', UNPARSABLE, UNPARSABLE],
    ["INSERT INTO scratch VALUES (1, 'x'", UNPARSABLE, UNPARSABLE],
    // One statement that does not parse refuses the message, even after allowed ones.
    ['SELECT 1; SELEC 2', UNPARSABLE, UNPARSABLE],
    ['COMMIT; DRP TABLE accounts', UNPARSABLE, UNPARSABLE],
    ['BEGIN; UPDATE accounts SET; COMMIT', UNPARSABLE, UNPARSABLE],
  ]),
];
