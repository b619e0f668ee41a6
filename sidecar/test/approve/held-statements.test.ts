import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { usePostgres } from '@pgwarden/e2e';
import type pg from 'pg';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClientPool, psql } from '../integration/helpers.js';
import type { TestProxy } from '../support/proxy.js';
import {
  approvalIdIn,
  approvalsCli,
  listApprovals,
  pendingFor,
  schemaSql,
  startApprovalProxy,
  writeApprovalPolicy,
} from './support.js';

// Statements wait for a human here until the test (through the CLI) decides them.
const cluster = usePostgres();
const pool = new ClientPool();
let proxy: TestProxy;

beforeAll(async () => {
  await cluster().psql(schemaSql);
  const policy = await writeApprovalPolicy({ wait: { limit: '1h' }, approvers: { users: ['alice', 'bob'] } });
  proxy = await startApprovalProxy(cluster(), policy, await mkdtemp(join(tmpdir(), 'pgwarden-approvals-')));
});
afterEach(() => pool.endAll());
afterAll(() => proxy.drain(1000));

const balance = async (id: number) =>
  Number(await cluster().psql(`SELECT balance FROM accounts WHERE id = ${id}`));

describe('a held statement', () => {
  it('psql: a held UPDATE is approved through the CLI, runs, and the row changes', async () => {
    const sql = 'UPDATE accounts SET balance = 111 WHERE id = 1';
    const client = psql(cluster(), proxy.url({ sslmode: 'disable' }), ['-c', sql]);
    const pending = await pendingFor(proxy, sql);
    expect(await balance(1)).toBe(10);
    expect(pending.request).toMatchObject({
      statement: { protocol: 'simple', parameters: [] },
      requester: { clientUser: 'agent' },
      policy: { name: 'approving-agent', rule: 'writes-need-approval' },
      scope: { type: 'once' },
    });
    const approve = await approvalsCli(
      proxy,
      'approve',
      pending.id,
      '--as',
      'alice',
      '--reason',
      'looks right',
    );
    expect(approve.stdout).toBe(`${pending.id}: Approved\n`);
    const result = await client;
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('UPDATE 1\n');
    expect(result.stderr).toContain(
      `NOTICE:  pgwarden: statement held for approval ${pending.id} by rule "writes-need-approval"`,
    );
    expect(await balance(1)).toBe(111);
    const [record] = (await listApprovals(proxy)).filter((r) => r.id === pending.id);
    expect(record?.status).toMatchObject({ phase: 'Executed', decidedBy: 'alice', reason: 'looks right' });
    expect(record?.status.executions).toHaveLength(1);
    expect(record?.status.executions[0]).toMatchObject({ commandTag: 'UPDATE 1', rows: 1, error: null });
    const shown = await approvalsCli(proxy, 'show', pending.id);
    expect(shown.stdout).toContain(`statement:   ${sql}`);
    expect(shown.stdout).toContain('approved by: alice');
  });

  it('node-postgres: a denied UPDATE fails with 42501 naming the approver and reason; the row is unchanged', async () => {
    const c = await pool.pg(proxy.url());
    const sql = 'UPDATE accounts SET balance = $1 WHERE id = $2';
    const running = c.query(sql, [222, 2]).then(
      () => null,
      (e: pg.DatabaseError) => e,
    );
    const pending = await pendingFor(proxy, sql);
    expect(pending.request.statement).toMatchObject({ protocol: 'extended', parameters: ['222', '2'] });
    const deny = await approvalsCli(
      proxy,
      'deny',
      pending.id,
      '--as',
      'bob',
      '--reason',
      'not during business hours',
    );
    expect(deny.code).toBe(0);
    const err = await running;
    expect(err?.code).toBe('42501');
    expect(err?.message).toBe(`pgwarden: approval ${pending.id} denied by bob: not during business hours`);
    expect(await balance(2)).toBe(20);
    expect((await c.query('SELECT 1 AS still_usable')).rows).toEqual([{ still_usable: 1 }]);
    const again = await approvalsCli(proxy, 'approve', pending.id, '--as', 'alice');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`${pending.id} is Denied; a decided request cannot change`);
  });

  it('refuses self-approval and approvers the policy does not name; the statement keeps waiting', async () => {
    const c = await pool.pg(proxy.url());
    const sql = 'UPDATE accounts SET balance = 333 WHERE id = 3';
    const running = c.query(sql);
    const pending = await pendingFor(proxy, sql);
    const self = await approvalsCli(proxy, 'approve', pending.id, '--as', 'agent');
    expect(self.code).toBe(1);
    expect(self.stderr).toBe(
      `pgwarden: agent asked for ${pending.id} and cannot decide it: self-approval is refused\n`,
    );
    const stranger = await approvalsCli(proxy, 'approve', pending.id, '--as', 'mallory');
    expect(stranger.code).toBe(1);
    expect(stranger.stderr).toContain('mallory is not an approver of policy "approving-agent"');
    expect(await balance(3)).toBe(30);
    expect((await approvalsCli(proxy, 'approve', pending.id, '--as', 'bob')).code).toBe(0);
    expect((await running).rowCount).toBe(1);
    expect(await balance(3)).toBe(333);
  });

  it('keeps an explicit transaction open while held, and a denial aborts it as an error would', async () => {
    const c = await pool.pg(proxy.url());
    await c.query('BEGIN');
    const sql = 'UPDATE accounts SET balance = 444 WHERE id = 4';
    const running = c.query(sql).catch((e: pg.DatabaseError) => e);
    const pending = await pendingFor(proxy, sql);
    await approvalsCli(proxy, 'deny', pending.id, '--as', 'alice');
    expect(((await running) as pg.DatabaseError).message).toBe(
      `pgwarden: approval ${pending.id} denied by alice`,
    );
    const aborted = (await c.query('SELECT 1').catch((e) => e)) as pg.DatabaseError;
    expect(aborted.code).toBe('25P02');
    await c.query('ROLLBACK');
    expect(await balance(4)).toBe(40);
  });

  it('postgres.js: a pipelined read before the held write gets its result; the write runs once approved', async () => {
    const sql = postgres(proxy.url(), { max: 1, onnotice: () => {} });
    pool.add({ end: () => sql.end() });
    const text = 'UPDATE accounts SET balance = $1 WHERE id = $2';
    // postgres.js queries are lazy: execute() sends both now, one after the other on one connection.
    const read = sql`SELECT balance FROM accounts WHERE id = 5`.execute();
    const write = sql.unsafe(text, [555, 5]).execute();
    const pending = await pendingFor(proxy, text);
    expect(await read).toEqual([{ balance: 50 }]);
    await approvalsCli(proxy, 'approve', pending.id, '--as', 'alice');
    expect((await write).count).toBe(1);
    expect(await balance(5)).toBe(555);
  });
});

describe('approval id in errors', () => {
  it('carries the id in the notice a client sees', async () => {
    const c = await pool.pg(proxy.url());
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    const running = c.query('UPDATE accounts SET balance = 666 WHERE id = 6');
    const pending = await pendingFor(proxy, 'UPDATE accounts SET balance = 666 WHERE id = 6');
    await approvalsCli(proxy, 'approve', pending.id, '--as', 'alice');
    await running;
    expect(approvalIdIn(notices.join('\n'))).toBe(pending.id);
  });
});
