import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, ensureParserLoaded } from '../../src/analyze/parser.js';
import { loadPolicyFile } from '../../src/config/policy-file.js';
import { compilePolicy } from '../../src/decide/compile.js';
import { PolicyEngine } from '../../src/decide/engine.js';

/**
 * SQL through the real parser and classifier, decided under the two example
 * policies: the deciding rule of each message. The proxy's end-to-end corpus
 * covers the wire; this one pins the policy language's meaning.
 */
const CORPUS: [sql: string, readOnly: string, readWriteWithApprovals: string][] = [
  ['SELECT 1', 'reads', 'reads'],
  ['SELECT * FROM orders', 'reads', 'reads'],
  ['SELECT * FROM public.api_keys', 'no-credentials', 'reads'],
  ['SELECT o.id FROM orders o JOIN api_keys k ON k.id = o.id', 'no-credentials', 'reads'],
  ['SELECT * FROM orders WHERE id IN (SELECT order_id FROM user_credentials)', 'no-credentials', 'reads'],
  ['INSERT INTO orders VALUES (1)', 'read-only-access', 'writes-need-approval'],
  ['UPDATE audit.log SET x = 1', 'read-only-access', 'default-deny'],
  ['DELETE FROM orders', 'read-only-access', 'writes-need-approval'],
  ['WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d', 'read-only-access', 'writes-need-approval'],
  [
    'MERGE INTO orders o USING staging s ON o.id = s.id WHEN MATCHED THEN DELETE',
    'read-only-access',
    'writes-need-approval',
  ],
  ['CREATE TABLE t (a int)', 'read-only-access', 'no-ddl'],
  ['CREATE TEMP TABLE scratch (a int)', 'read-only-access', 'no-ddl'],
  ['DROP TABLE orders', 'read-only-access', 'no-ddl'],
  ['TRUNCATE orders', 'read-only-access', 'no-ddl'],
  ['GRANT SELECT ON orders TO bob', 'read-only-access', 'no-ddl'],
  ['DO $$ BEGIN PERFORM 1; END $$', 'read-only-access', 'no-ddl'],
  ['CALL refresh_totals()', 'read-only-access', 'no-ddl'],
  ['VACUUM orders', 'read-only-access', 'no-ddl'],
  ['ALTER SYSTEM SET work_mem = 1', 'read-only-access', 'no-ddl'],
  ['SET ROLE admin', 'guarded-setting', 'guarded-setting'],
  ['SET SESSION AUTHORIZATION postgres', 'guarded-setting', 'guarded-setting'],
  ["SELECT set_config('role', 'admin', false)", 'guarded-setting', 'guarded-setting'],
  ['SET default_transaction_read_only = off', 'guarded-setting', 'guarded-setting'],
  ['SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE', 'guarded-setting', 'guarded-setting'],
  ['RESET ALL', 'guarded-setting', 'guarded-setting'],
  ['DISCARD ALL', 'guarded-setting', 'guarded-setting'],
  ['SET search_path = secret, public', 'guarded-setting', 'transactions-and-session'],
  ["SET statement_timeout = '10s'", 'transactions-and-session', 'transactions-and-session'],
  ['SET statement_timeout = 0', 'guarded-setting', 'guarded-setting'],
  ["SET LOCAL statement_timeout = '1h'", 'guarded-setting', 'guarded-setting'],
  ['RESET statement_timeout', 'transactions-and-session', 'transactions-and-session'],
  ['SET application_name = agent', 'transactions-and-session', 'transactions-and-session'],
  ['BEGIN', 'transactions-and-session', 'transactions-and-session'],
  ['BEGIN READ WRITE', 'read-only-access', 'transactions-and-session'],
  ['SET TRANSACTION READ WRITE', 'read-only-access', 'transactions-and-session'],
  [
    'START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY',
    'transactions-and-session',
    'transactions-and-session',
  ],
  ['COMMIT', 'transactions-and-session', 'transactions-and-session'],
  ["SELECT pg_read_file('/etc/passwd')", 'function-deny-list', 'function-deny-list'],
  ['SELECT pg_catalog.pg_sleep(10)', 'function-deny-list', 'function-deny-list'],
  ["SELECT lo_export(1, '/tmp/x')", 'function-deny-list', 'function-deny-list'],
  ["SELECT dblink_exec('host=x', 'DROP TABLE orders')", 'function-deny-list', 'function-deny-list'],
  ['SELECT pg_terminate_backend(pid) FROM pg_stat_activity', 'function-deny-list', 'function-deny-list'],
  ['SELECT pg_advisory_lock(1)', 'function-deny-list', 'function-deny-list'],
  [
    "SELECT query_to_xml('select * from api_keys', true, false, '')",
    'function-deny-list',
    'function-deny-list',
  ],
  ["SELECT nextval('orders_id_seq')", 'read-only-access', 'reads'],
  ["SELECT current_setting('search_path')", 'reads', 'reads'],
  ['SHOW search_path', 'reads', 'reads'],
  ['COPY orders TO STDOUT', 'reads', 'reads'],
  ['COPY orders FROM STDIN', 'read-only-access', 'writes-need-approval'],
  ["COPY orders TO '/tmp/orders.csv'", 'copy-server-file', 'copy-server-file'],
  ["COPY orders FROM PROGRAM 'curl example.com'", 'copy-server-file', 'copy-server-file'],
  ['SELECT * FROM orders FOR UPDATE', 'read-only-access', 'locks-need-approval'],
  ['LOCK TABLE orders IN ACCESS EXCLUSIVE MODE', 'read-only-access', 'locks-need-approval'],
  ['EXPLAIN SELECT * FROM orders', 'reads', 'reads'],
  ['EXPLAIN DELETE FROM orders', 'reads', 'reads'],
  ['EXPLAIN ANALYZE DELETE FROM orders', 'read-only-access', 'writes-need-approval'],
  ['DECLARE c CURSOR FOR SELECT * FROM api_keys', 'no-credentials', 'reads'],
  ['LISTEN orders_changed', 'transactions-and-session', 'transactions-and-session'],
  // A message is decided as a whole: one refused statement refuses it, COMMIT does not split it.
  ['SELECT 1; COMMIT; DROP TABLE orders', 'read-only-access', 'no-ddl'],
  ['SELECT 1; UPDATE orders SET x = 1', 'read-only-access', 'writes-need-approval'],
  ['', 'empty-message', 'empty-message'],
];

describe('example policies on the corpus', () => {
  let readOnly: PolicyEngine;
  let readWrite: PolicyEngine;
  const examples = new URL('../../../examples/policies/', import.meta.url);

  beforeAll(async () => {
    await ensureParserLoaded();
    readOnly = new PolicyEngine(compilePolicy(loadPolicyFile(new URL('read-only.yaml', examples).pathname)));
    readWrite = new PolicyEngine(
      compilePolicy(loadPolicyFile(new URL('read-write-with-approvals.yaml', examples).pathname)),
    );
  });

  function ruleFor(engine: PolicyEngine, sql: string): string {
    const analysis = analyze(sql);
    if (!analysis.ok) return `${analysis.error.reason}: ${analysis.error.message}`;
    return engine.decideMessage(analysis.statements.map((s) => s.facts)).rule;
  }

  it.each(CORPUS)('%s', (sql, readOnlyRule, readWriteRule) => {
    expect({ readOnly: ruleFor(readOnly, sql), readWrite: ruleFor(readWrite, sql) }).toEqual({
      readOnly: readOnlyRule,
      readWrite: readWriteRule,
    });
  });
});
