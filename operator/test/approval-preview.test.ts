import { ApprovalSettingsSchema, type ApprovalStatement } from '@pgwarden/crds';
import { usePostgres } from '@pgwarden/e2e';
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { previewStatement } from '../src/approval/preview/run.js';
import { previewRefusal } from '../src/approval/preview/safety.js';

// The preview on a real PostgreSQL as a non-superuser role: what it reports,
// and that nothing it ran survives.

const statement = (text: string, parameters: (string | null)[] = []): ApprovalStatement => ({
  protocol: parameters.length > 0 ? 'extended' : 'simple',
  text,
  parameters,
  digest: '0'.repeat(64),
  fingerprint: '0'.repeat(16),
});

describe('impact preview', () => {
  const cluster = usePostgres();
  const clients: pg.Client[] = [];
  const connect = async () => {
    const client = new pg.Client({ connectionString: cluster().url('scram') });
    clients.push(client);
    await client.connect();
    return client;
  };

  beforeAll(async () => {
    const role = cluster().users.scram.user;
    await cluster().psql(`
      CREATE TABLE orders (id int PRIMARY KEY, status text NOT NULL, total numeric NOT NULL);
      INSERT INTO orders SELECT g, 'open', g * 10 FROM generate_series(1, 5000) g;
      ANALYZE orders;
      CREATE SEQUENCE invoice_numbers;
      GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO ${role};
      GRANT USAGE, UPDATE ON SEQUENCE invoice_numbers TO ${role};
    `);
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) await client.end().catch(() => undefined);
  });

  const count = async (where: string) =>
    Number(await cluster().psql(`SELECT count(*) FROM orders WHERE ${where}`));

  it('DELETE … WHERE id = 42: one row affected and estimated, the row still there afterwards', async () => {
    const impact = await previewStatement(
      await connect(),
      statement('DELETE FROM orders WHERE id = $1', ['42']),
      5000,
    );
    console.log('DELETE preview', impact);
    expect(impact).toMatchObject({ result: 'Previewed', rowsAffected: 1, planRows: 1, error: null });
    expect(impact.plan).toMatch(/^Delete on orders/);
    expect(impact.plan).toContain('Index Scan using orders_pkey');
    expect(await count('id = 42')).toBe(1);
  });

  it('an UPDATE of 1000 rows: 1000 affected, the planner’s estimate beside it, nothing changed', async () => {
    const impact = await previewStatement(
      await connect(),
      statement("UPDATE orders SET status = 'cancelled' WHERE id <= 1000"),
      5000,
    );
    console.log('UPDATE preview', { ...impact, plan: impact.plan?.split('\n')[0] });
    expect(impact).toMatchObject({ result: 'Previewed', rowsAffected: 1000, error: null });
    expect(impact.planRows).toBeGreaterThan(500);
    expect(impact.planRows).toBeLessThan(2000);
    expect(await count("status = 'cancelled'")).toBe(0);
  });

  it('a SELECT counts its rows without returning them', async () => {
    const impact = await previewStatement(await connect(), statement('SELECT * FROM orders'), 5000);
    // The estimate, not a count: earlier previews' rolled-back rows are dead tuples the planner still sees.
    expect(impact).toMatchObject({ result: 'Previewed', rowsAffected: 5000 });
    expect(impact.planRows).toBeGreaterThanOrEqual(5000);
  });

  it('a statement that waits past the statement timeout is recorded as failed, its lock released', async () => {
    const holder = await connect();
    await holder.query('BEGIN');
    await holder.query('SELECT * FROM orders WHERE id = 7 FOR UPDATE');
    const previewer = await connect();
    const impact = await previewStatement(previewer, statement('DELETE FROM orders WHERE id = 7'), 300);
    console.log('timed-out preview', impact);
    expect(impact.result).toBe('Failed');
    expect(impact.error).toBe(
      "cancelled by the preview's statement timeout (300 ms): the statement was not previewed, and a preview is not retried",
    );
    expect(impact.rowsAffected).toBeNull();
    expect(impact.planRows).toBe(1);
    await holder.query('ROLLBACK');
    // The previewer's transaction is over: its connection is idle, not idle in (aborted) transaction.
    const { rows } = await previewer.query<{ txid: string | null }>(
      'SELECT txid_current_if_assigned() AS txid',
    );
    expect(rows[0]?.txid).toBeNull();
    expect(await count('id = 7')).toBe(1);
  });

  it('a database error is recorded with its SQLSTATE', async () => {
    const impact = await previewStatement(
      await connect(),
      statement('UPDATE orders SET total = total / 0 WHERE id = 1'),
      5000,
    );
    expect(impact).toMatchObject({ result: 'Failed', error: 'SQLSTATE 22012: division by zero' });
  });

  it('refuses what a rollback would not undo, before running anything', async () => {
    const refused = async (text: string) => {
      const impact = await previewStatement(await connect(), statement(text), 5000);
      expect(impact.result).toBe('Refused');
      expect(impact.rowsAffected).toBeNull();
      return impact.error;
    };
    expect(await refused('VACUUM orders')).toMatch(/^VacuumStmt is not previewed: only INSERT, UPDATE/);
    expect(await refused('CREATE INDEX CONCURRENTLY orders_status ON orders (status)')).toMatch(
      /^IndexStmt is not previewed/,
    );
    expect(await refused("SELECT setval('invoice_numbers', 100)")).toBe(
      'it calls setval(), which sets a sequence, which a rollback does not undo; a preview never runs it',
    );
    expect(
      await refused(
        "DELETE FROM orders WHERE id IN (SELECT x FROM dblink('host=elsewhere', 'SELECT 1') AS t(x int))",
      ),
    ).toMatch(/^it calls dblink\(\), which opens connections to other databases/);
    expect(await refused('DELETE FROM orders WHERE id = 1; DROP TABLE orders')).toBe(
      'the text holds 2 statements; a preview runs exactly one',
    );
    expect(await refused('COMMIT')).toMatch(/^TransactionStmt is not previewed/);
    expect(await cluster().psql('SELECT last_value FROM invoice_numbers')).toBe('1');
    expect(await count('true')).toBe(5000);
  });

  it('a policy cannot give a preview more than a minute', () => {
    const settings = (statementTimeout: string) =>
      ApprovalSettingsSchema.safeParse({ impactPreview: { enabled: true, statementTimeout } });
    expect(settings('1m').success).toBe(true);
    expect(settings('61s').error?.issues[0]?.message).toBe('is longer than a preview may run (1m)');
    expect(ApprovalSettingsSchema.parse({}).impactPreview).toEqual({
      enabled: false,
      statementTimeout: '5s',
    });
  });

  it('accepts plain DML, including pg_notify (delivered only on commit)', async () => {
    expect(await previewRefusal("INSERT INTO orders VALUES (9001, 'open', 1) RETURNING id")).toBeNull();
    expect(await previewRefusal("SELECT pg_notify('c', 'x')")).toBeNull();
    expect(
      await previewRefusal(
        'MERGE INTO orders o USING (VALUES (1)) v(id) ON o.id = v.id WHEN MATCHED THEN DELETE',
      ),
    ).toBeNull();
  });
});
