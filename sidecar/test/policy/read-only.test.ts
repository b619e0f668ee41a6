import { usePostgres } from '@pgwarden/e2e';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClientPool } from '../integration/helpers.js';
import type { TestProxy } from '../support/proxy.js';
import { databaseState, schemaSql, startPolicyProxy } from './support.js';

const cluster = usePostgres();
let proxy: TestProxy;
const pool = new ClientPool();

beforeAll(async () => {
  await cluster().psql(schemaSql);
  proxy = await startPolicyProxy(cluster(), 'read-only.yaml');
});
afterEach(() => pool.endAll());
afterAll(() => proxy.drain(1000));

const client = () => pool.pg(proxy.url());

async function refusal(c: pg.Client, sql: string): Promise<pg.DatabaseError | null> {
  return c.query(sql).then(
    () => null,
    (e: pg.DatabaseError) => e,
  );
}

describe('read-only access', () => {
  it('reads, except what a deny rule names', async () => {
    const c = await client();
    expect((await c.query('SELECT owner FROM accounts WHERE id = 1')).rows).toEqual([{ owner: 'owner1' }]);
    const err = await refusal(c, 'SELECT a.owner, s.token FROM accounts a JOIN secrets s ON s.id = a.id');
    expect(err?.message).toBe('pgwarden: denied by rule "no-secrets": Secrets are off limits.');
  });

  it.each([
    ['INSERT', "INSERT INTO scratch VALUES (1, 'x')"],
    ['a data-modifying CTE', 'WITH d AS (DELETE FROM scratch RETURNING *) SELECT * FROM d'],
    ['SELECT FOR UPDATE', 'SELECT * FROM accounts FOR UPDATE'],
    ['nextval', "SELECT nextval('log_id_seq')"],
    ['BEGIN READ WRITE', 'BEGIN READ WRITE'],
    ['COPY FROM STDIN', 'COPY scratch FROM STDIN'],
  ])('refuses %s with the read-only-access rule', async (_what, sql) => {
    const c = await client();
    const before = await databaseState(cluster());
    const err = await refusal(c, sql);
    expect(err?.code).toBe('42501');
    expect(err?.message).toContain('rule "read-only-access"');
    expect(await databaseState(cluster())).toBe(before);
  });

  it.each([
    ['SET default_transaction_read_only', 'SET default_transaction_read_only = off'],
    ['SET TRANSACTION READ WRITE', 'SET TRANSACTION READ WRITE'],
    ['set_config of transaction_read_only', "SELECT set_config('transaction_read_only', 'off', false)"],
    ['SET search_path', 'SET search_path = evil, public'],
  ])('refuses %s', async (_what, sql) => {
    const err = await refusal(await client(), sql);
    expect(err?.code).toBe('42501');
    expect(err?.message).toMatch(/rule "(guarded-setting|read-only-access)"/);
  });

  it('pins the upstream session read-only, so a write hidden in a function still fails in PostgreSQL', async () => {
    const c = await client();
    expect((await c.query('SHOW default_transaction_read_only')).rows).toEqual([
      { default_transaction_read_only: 'on' },
    ]);
    const before = await databaseState(cluster());
    // The classifier sees a SELECT calling write_log(): a read. The server refuses the INSERT inside.
    const err = await refusal(c, "SELECT write_log('sneaky')");
    expect(err?.code).toBe('25006');
    expect(await databaseState(cluster())).toBe(before);
  });

  it('cuts results at the policy maxRows (5)', async () => {
    const c = await client();
    const r = await c.query('SELECT id FROM accounts ORDER BY id');
    expect(r.rows.map((row) => row.id)).toEqual([1, 2, 3, 4, 5]);
    expect(r.rowCount).toBe(5);
  });

  it('extended protocol reads work and writes are refused at Parse', async () => {
    const c = await client();
    const r = await c.query({ text: 'SELECT balance FROM accounts WHERE id = $1', values: [4] });
    expect(r.rows).toEqual([{ balance: 40 }]);
    await expect(c.query({ text: 'UPDATE accounts SET balance = $1', values: [0] })).rejects.toMatchObject({
      code: '42501',
    });
  });
});
