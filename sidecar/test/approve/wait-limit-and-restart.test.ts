import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { usePostgres } from '@pgwarden/e2e';
import postgres from 'postgres';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClientPool } from '../integration/helpers.js';
import type { TestProxy } from '../support/proxy.js';
import {
  approvalIdIn,
  approvalsCli,
  listApprovals,
  schemaSql,
  startApprovalProxy,
  writeApprovalPolicy,
} from './support.js';

const cluster = usePostgres();
const pool = new ClientPool();
const proxies = new Set<TestProxy>();

beforeAll(() => cluster().psql(schemaSql));
afterEach(async () => {
  await pool.endAll();
  await Promise.all([...proxies].map((p) => p.drain(1000)));
  proxies.clear();
});

async function proxyWith(approval: Record<string, unknown>, dir?: string): Promise<TestProxy> {
  const approvalDir = dir ?? (await mkdtemp(join(tmpdir(), 'pgwarden-approvals-')));
  const proxy = await startApprovalProxy(cluster(), await writeApprovalPolicy(approval), approvalDir);
  proxies.add(proxy);
  return proxy;
}

function postgresJs(proxy: TestProxy) {
  const sql = postgres(proxy.url(), { max: 1, onnotice: () => {} });
  pool.add({ end: () => sql.end() });
  return sql;
}

const balance = async (id: number) =>
  Number(await cluster().psql(`SELECT balance FROM accounts WHERE id = ${id}`));
const failure = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: postgres.PostgresError) => e,
  );

describe('past the wait limit', () => {
  it('fails with the approval id; once approved the identical statement runs exactly once', async () => {
    const proxy = await proxyWith({ wait: { limit: '50ms' } });
    const sql = postgresJs(proxy);
    const text = 'UPDATE accounts SET balance = balance + $1 WHERE id = $2';
    const first = await failure(sql.unsafe(text, [1, 11]));
    expect(first?.code).toBe('42501');
    expect(first?.message).toMatch(
      /^pgwarden: statement needs approval apr-[0-9a-z]+ by rule "writes-need-approval": a human confirms every change to accounts; still pending after 50ms$/,
    );
    const id = approvalIdIn(first?.message ?? '');
    expect((await approvalsCli(proxy, 'approve', id, '--as', 'alice')).code).toBe(0);
    expect(await balance(11)).toBe(110);

    // Another value is another statement: it needs its own approval.
    expect((await failure(sql.unsafe(text, [2, 11])))?.code).toBe('42501');
    expect((await sql.unsafe(text, [1, 11])).count).toBe(1);
    expect(await balance(11)).toBe(111);
    const again = await failure(sql.unsafe(text, [1, 11]));
    expect(again?.code).toBe('42501');
    expect(approvalIdIn(again?.message ?? '')).not.toBe(id);
    expect(await balance(11)).toBe(111);
    const record = (await listApprovals(proxy)).find((r) => r.id === id);
    expect(record?.status.phase).toBe('Executed');
    expect(record?.status.executions).toHaveLength(1);
  });

  it('mode fail answers at once with the id; a re-run before the decision asks no second time', async () => {
    const proxy = await proxyWith({ wait: { mode: 'fail' } });
    const sql = postgresJs(proxy);
    const text = 'UPDATE accounts SET balance = 1200 WHERE id = 12';
    const first = await failure(sql.unsafe(text));
    const id = approvalIdIn(first?.message ?? '');
    expect(approvalIdIn((await failure(sql.unsafe(text)))?.message ?? '')).toBe(id);
    await approvalsCli(proxy, 'approve', id, '--as', 'alice');
    expect((await sql.unsafe(text)).count).toBe(1);
    expect(await balance(12)).toBe(1200);
  });

  it('scope fingerprint: one approval covers the statement with other values until it lapses', async () => {
    const proxy = await proxyWith({ wait: { mode: 'fail' }, scope: { type: 'fingerprint', duration: '1h' } });
    const sql = postgresJs(proxy);
    const id = approvalIdIn(
      (await failure(sql`UPDATE accounts SET balance = 1300 WHERE id = 13`))?.message ?? '',
    );
    await approvalsCli(proxy, 'approve', id, '--as', 'alice');
    await sql`UPDATE accounts SET balance = 1301 WHERE id = 13`;
    await sql`UPDATE accounts SET balance = 1401 WHERE id = 14`;
    expect(await balance(13)).toBe(1301);
    expect(await balance(14)).toBe(1401);
    expect((await failure(sql`UPDATE accounts SET owner = 'x' WHERE id = 14`))?.code).toBe('42501');
  });

  it('scope session: the approval covers the statement in the session that asked, not in another', async () => {
    const proxy = await proxyWith({ wait: { mode: 'fail' }, scope: { type: 'session' } });
    const asker = postgresJs(proxy);
    const text = 'UPDATE accounts SET balance = $1 WHERE id = 15';
    const id = approvalIdIn((await failure(asker.unsafe(text, [1500])))?.message ?? '');
    await approvalsCli(proxy, 'approve', id, '--as', 'alice');
    await asker.unsafe(text, [1501]);
    await asker.unsafe(text, [1502]);
    expect(await balance(15)).toBe(1502);
    expect((await failure(postgresJs(proxy).unsafe(text, [1503])))?.code).toBe('42501');
    expect(await balance(15)).toBe(1502);
  });
});

describe('a restart of the proxy', () => {
  it('keeps pending requests: approved after the restart, the re-run succeeds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgwarden-approvals-'));
    const before = await proxyWith({ wait: { mode: 'fail' } }, dir);
    const text = 'UPDATE accounts SET balance = 1600 WHERE id = 16';
    const id = approvalIdIn((await failure(postgresJs(before).unsafe(text)))?.message ?? '');
    await pool.endAll();
    await before.drain(1000);
    proxies.delete(before);

    const after = await proxyWith({ wait: { mode: 'fail' } }, dir);
    const pending = (await listApprovals(after)).find((r) => r.id === id);
    expect(pending?.status.phase).toBe('Pending');
    expect(pending?.request.statement.text).toBe(text);
    await approvalsCli(after, 'approve', id, '--as', 'alice');
    expect((await postgresJs(after).unsafe(text)).count).toBe(1);
    expect(await balance(16)).toBe(1600);
  });
});
