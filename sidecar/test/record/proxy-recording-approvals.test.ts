import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { usePostgres } from '@pgwarden/e2e';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { approvalsCli, pendingFor, schemaSql, writeApprovalPolicy } from '../approve/support.js';
import { ClientPool, psql } from '../integration/helpers.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import { eventsOf, sealedRecording } from './proxy-support.js';
import { replay } from './support.js';

/**
 * A statement held for a human, recorded: the approve decision, the request,
 * who approved or denied it and why, then what ran or the refusal.
 */

const cluster = usePostgres();
const pool = new ClientPool();
let proxy: TestProxy;
let sinkDir: string;

const temp = (prefix: string) => mkdtemp(join(tmpdir(), `pgwarden-${prefix}-`));

beforeAll(async () => {
  await cluster().psql(schemaSql);
  sinkDir = await temp('approval-recordings');
  // The approval suite's policy, recording into a dir sink.
  const policy = await writeApprovalPolicy({ wait: { limit: '1h' }, approvers: { users: ['alice', 'bob'] } });
  const document = JSON.parse(await readFile(policy, 'utf8')) as { spec: Record<string, unknown> };
  document.spec.recording = { sink: { type: 'dir', path: sinkDir }, flushInterval: '50ms' };
  await writeFile(policy, JSON.stringify(document));
  proxy = await startTestProxy(cluster(), {
    policy,
    approvalDir: await temp('approvals'),
    approvalListen: '127.0.0.1:0',
    spoolDir: await temp('approval-spool'),
  });
});
afterEach(() => pool.endAll());
afterAll(() => proxy?.drain(1000));

describe('recording a held statement', () => {
  it('approved: the decision, the request, the approver and reason, then the result', async () => {
    const sql = 'UPDATE accounts SET balance = 111 WHERE id = 1';
    const client = psql(cluster(), proxy.url({ application_name: 'rec-approved' }), ['-c', sql]);
    const pending = await pendingFor(proxy, sql);
    await approvalsCli(proxy, 'approve', pending.id, '--as', 'alice', '--reason', 'looks right');
    expect((await client).stdout).toBe('UPDATE 1\n');

    const r = await sealedRecording(sinkDir, 'rec-approved');
    expect((await replay([sinkDir, '--session', r.id, '--verify'])).code).toBe(0);
    const [statement] = eventsOf(r, 'statement');
    expect(statement).toMatchObject({ protocol: 'simple', text: sql });
    const events = r.events.filter((e) => 'statementId' in e && e.statementId === statement?.statementId);
    expect(events.map((e) => (e.type === 'approval' ? `approval ${e.phase}` : e.type))).toEqual([
      'statement',
      'decision',
      'approval requested',
      'approval approved',
      'result',
    ]);
    expect(events[1]).toMatchObject({ outcome: 'approve', rule: 'writes-need-approval' });
    expect(events[2]).toMatchObject({ request: pending.id, approver: null });
    expect(events[3]).toMatchObject({ request: pending.id, approver: 'alice', reason: 'looks right' });
    expect(events[4]).toMatchObject({ commandTag: 'UPDATE 1' });
    const transcript = await replay([sinkDir, '--session', r.id]);
    expect(transcript.out).toContain(`approval approved for #1 (request ${pending.id}, by alice`);
  });

  it('denied (extended protocol): the parameters, the request, who denied it and why, the refusal', async () => {
    const c = await pool.pg(proxy.url({ application_name: 'rec-denied' }));
    const sql = 'UPDATE accounts SET balance = $1 WHERE id = $2';
    const running = c.query(sql, [222, 2]).then(
      () => null,
      (e: pg.DatabaseError) => e,
    );
    const pending = await pendingFor(proxy, sql);
    await approvalsCli(proxy, 'deny', pending.id, '--as', 'bob', '--reason', 'not during the audit');
    expect((await running)?.code).toBe('42501');
    await c.end();

    const r = await sealedRecording(sinkDir, 'rec-denied');
    const [statement] = eventsOf(r, 'statement').filter((e) => e.text === sql);
    expect(statement).toMatchObject({ protocol: 'extended', parameters: ['222', '2'] });
    const events = r.events.filter((e) => 'statementId' in e && e.statementId === statement?.statementId);
    expect(events.map((e) => (e.type === 'approval' ? `approval ${e.phase}` : e.type))).toEqual([
      'statement',
      'decision',
      'approval requested',
      'approval denied',
      'error',
    ]);
    expect(events[3]).toMatchObject({ approver: 'bob', reason: 'not during the audit' });
    expect(events[4]).toMatchObject({ source: 'pgwarden', code: '42501' });
  });
});
