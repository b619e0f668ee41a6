import { fileURLToPath } from 'node:url';
import type { PostgresCluster } from '@pgwarden/e2e';
import { startTestProxy, type TestProxy } from '../support/proxy.js';

export const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/** Tables every policy suite uses; `scratch` is the one table the read-write policy lets agents write. */
export const schemaSql = `
  CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance int NOT NULL);
  INSERT INTO accounts SELECT i, 'owner' || i, i * 10 FROM generate_series(1, 20) i;
  CREATE TABLE scratch (id int, note text);
  CREATE TABLE secrets (id int, token text);
  INSERT INTO secrets VALUES (1, 'tok_live_123');
  CREATE TABLE log (id serial, entry text);
  -- A write the classifier cannot see: it hides inside a function called from a SELECT.
  CREATE FUNCTION write_log(e text) RETURNS int LANGUAGE sql AS $$ INSERT INTO log (entry) VALUES (e) RETURNING id $$;
  GRANT ALL ON ALL TABLES IN SCHEMA public TO PUBLIC;
  GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO PUBLIC;
`;

/** The query behind {@link databaseState}, for suites that take it over a connection they keep open. */
export const databaseStateSql = `
    SELECT string_agg(t, '|' ORDER BY t) FROM (
      SELECT 'accounts:' || md5(string_agg(a::text, ',' ORDER BY id)) AS t FROM accounts a
      UNION ALL SELECT 'scratch:' || count(*) FROM scratch
      UNION ALL SELECT 'secrets:' || count(*) FROM secrets
      UNION ALL SELECT 'log:' || count(*) FROM log
      UNION ALL SELECT 'tables:' || count(*) FROM pg_tables WHERE schemaname = 'public'
    ) s`;

/** A fingerprint of every table's contents, to prove a refused statement changed nothing. */
export async function databaseState(cluster: PostgresCluster): Promise<string> {
  return cluster.psql(databaseStateSql);
}

export function startPolicyProxy(cluster: PostgresCluster, policyFile: string): Promise<TestProxy> {
  return startTestProxy(cluster, { policy: fixture(policyFile) });
}
