import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type SessionKey, sendCancelRequest, usePostgres } from '@pgwarden/e2e';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestProxy } from '../support/proxy.js';
import { listApprovals, pendingFor, schemaSql, startApprovalProxy, writeApprovalPolicy } from './support.js';

// A client that gives up while its statement waits for a human: its CancelRequest
// (psql's Ctrl-C) withdraws the request instead of leaving it in the queue.
const cluster = usePostgres();
let proxy: TestProxy;
let approvalDir: string;

beforeAll(async () => {
  await cluster().psql(schemaSql);
  const policy = await writeApprovalPolicy({ wait: { limit: '1h' }, approvers: { users: ['alice'] } });
  approvalDir = await mkdtemp(join(tmpdir(), 'pgwarden-approvals-cancel-'));
  proxy = await startApprovalProxy(cluster(), policy, approvalDir);
});
afterAll(() => proxy.drain(1000));

describe('a CancelRequest while a statement waits', () => {
  it('fails the statement with 57014, withdraws the request (its file goes), and the session goes on', async () => {
    const client = new pg.Client({ connectionString: proxy.url() });
    await client.connect();
    try {
      const sql = 'UPDATE accounts SET balance = 7 WHERE id = 2';
      const waiting = client.query(sql).catch((e: unknown) => e);
      const pending = await pendingFor(proxy, sql);
      await sendCancelRequest(proxy.url(), client as unknown as SessionKey);
      const error = (await waiting) as { code?: string; message: string };
      expect(error.code).toBe('57014');
      expect(error.message).toBe(
        `pgwarden: canceling statement due to user request; approval ${pending.id} withdrawn`,
      );
      expect((await listApprovals(proxy)).map((r) => r.id)).not.toContain(pending.id);
      expect(await readdir(approvalDir)).not.toContain(`${pending.id}.json`);
      expect((await client.query('SELECT balance FROM accounts WHERE id = 2')).rows[0].balance).not.toBe(7);
    } finally {
      await client.end();
    }
  });
});
