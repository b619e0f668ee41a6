import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPki, type TestPki, usePostgres } from '@pgwarden/e2e';
import type pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProxy } from '../../src/proxy/server.js';
import { ClientPool, counterValue, pgClient, waitFor, within } from '../integration/helpers.js';
import { eventsOf, sealedRecording } from '../record/proxy-support.js';
import { replay } from '../record/support.js';
import {
  compiled,
  connectError,
  counter,
  endedWith,
  FakeOperator,
  type GrantProxyOptions,
  grantFor,
  isReady,
  startGrantProxy,
} from './support.js';

// What a grant change means for sessions already open (moved at an idle
// point, or ended when they cannot move), and the policy's recording and
// masking in grant mode.

const cluster = usePostgres();
const pool = new ClientPool();
let pki: TestPki;
let dir: string;
let operator: FakeOperator | undefined;
let proxy: (RunningProxy & { url: string }) | undefined;

const rules = (ordersAction: 'allow' | 'deny') => [
  {
    name: 'orders-rule',
    match: { tables: ['orders'] },
    action: ordersAction,
    ...(ordersAction === 'deny' ? { message: 'orders are closed.' } : {}),
  },
  { name: 'reads', match: { kinds: ['read', 'transaction', 'session'] }, action: 'allow' },
];
const openPolicy = compiled({ access: 'read-write', rules: rules('allow') }, 'open');
const closedPolicy = compiled({ access: 'read-write', rules: rules('deny') }, 'closed');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgwarden-grant-sessions-'));
  pki = await createTestPki(join(dir, 'pki'));
  await writeFile(join(dir, 'token'), 'token\n');
  await cluster().psql(`
    CREATE TABLE orders (id int PRIMARY KEY, amount int);
    INSERT INTO orders SELECT i, i * 10 FROM generate_series(1, 3) i;
    CREATE TABLE people (id int, name text, ssn text);
    INSERT INTO people VALUES (1, 'Ada', '123-45-6789');
    GRANT SELECT ON ALL TABLES IN SCHEMA public TO PUBLIC;
  `);
});

afterEach(async () => {
  await pool.endAll();
  await proxy?.drain(1000);
  await operator?.close();
  proxy = undefined;
  operator = undefined;
});

async function granted(
  policy = openPolicy,
  options: Partial<GrantProxyOptions> = {},
): Promise<{ operator: FakeOperator; proxy: RunningProxy & { url: string } }> {
  operator = await FakeOperator.start(pki, { grant: grantFor(cluster(), { policy }) });
  proxy = await startGrantProxy({
    operator,
    tokenFile: join(dir, 'token'),
    caFile: pki.caFile,
    ...options,
  });
  const started = proxy;
  await waitFor('readiness', () => isReady(started));
  return { operator, proxy };
}

describe('grant mode: open sessions and policy changes', () => {
  it('a session inside a transaction keeps the old policy until the transaction ends', async () => {
    const { operator, proxy } = await granted();
    const client = pool.add(await pgClient(proxy.url));
    await client.query('begin');
    await client.query('select count(*) from orders');
    operator.setAnswer({ grant: grantFor(cluster(), { policy: closedPolicy }) });
    await waitFor('the new grant to arrive', () => operator.requests.length >= 3);
    // Still in the transaction: the statement boundary that counts is the end of it.
    expect((await client.query('select count(*)::int as n from orders')).rows[0].n).toBe(3);
    await client.query('commit');
    await expect(client.query('select count(*) from orders')).rejects.toThrow('orders are closed.');
  });

  it('ends a session holding named prepared statements with 57P01 instead of running them unchecked', async () => {
    const { operator, proxy } = await granted();
    const client = pool.add(await pgClient(proxy.url));
    const byName = { name: 'orders-count', text: 'select count(*)::int as n from orders' };
    expect((await client.query(byName)).rows[0].n).toBe(3);
    const ended = endedWith(client);
    operator.setAnswer({ grant: grantFor(cluster(), { policy: closedPolicy }) });
    const { error } = await within(10_000, 'the session to end', ended);
    expect(error.code).toBe('57P01');
    expect(error.message).toBe(
      'pgwarden: the access policy changed to agents/closed and this session cannot move to it: the session holds named prepared statements decided under the old policy',
    );
    expect(
      await counterValue(counter(proxy, 'pgwarden_grant_session_retargets_total'), { outcome: 'ended' }),
    ).toBe(1);
    const fresh = pool.add(await pgClient(proxy.url));
    await expect(fresh.query(byName)).rejects.toThrow('orders are closed.');
  });

  it('a new credential applies to new sessions; open ones keep their connection', async () => {
    const { operator, proxy } = await granted();
    const before = pool.add(await pgClient(proxy.url));
    operator.setAnswer({
      grant: grantFor(cluster(), { policy: openPolicy, credential: cluster().users.md5 }),
    });
    await waitFor('new sessions to use the new role', async () => {
      const c = await pgClient(proxy.url);
      const user = (await c.query('select current_user as u')).rows[0].u;
      await c.end();
      return user === cluster().users.md5.user;
    });
    expect((await before.query('select current_user as u')).rows[0].u).toBe(cluster().users.scram.user);
  });
});

describe('grant mode: revocation of a busy session', () => {
  it('cancels the statement that is running when access ends', async () => {
    const sleepy = compiled(
      { access: 'read-write', rules: rules('allow'), allowFunctions: ['pg_catalog.pg_sleep'] },
      'sleepy',
    );
    const { operator, proxy } = await granted(sleepy);
    const client = pool.add(await pgClient(proxy.url));
    // The FATAL answers the running query; the client then only reports the closed connection.
    client.on('error', () => {});
    const sleeping = client.query('select pg_sleep(60)').then(
      () => null,
      (err: pg.DatabaseError) => err,
    );
    const running = async () =>
      Number(
        await cluster().psql(
          "select count(*) from pg_stat_activity where query = 'select pg_sleep(60)' and state = 'active'",
        ),
      );
    await waitFor('the statement to run', async () => (await running()) === 1);
    operator.setAnswer({
      status: 403,
      refusal: {
        reason: 'no-policy',
        message: 'no AgentAccessPolicy binds pod agents/agent-0',
        retryAfterSeconds: null,
      },
    });
    const failed = await within(10_000, 'the query to fail', sleeping);
    expect(failed?.code).toBe('28000');
    expect(failed?.message).toContain('pgwarden: access revoked');
    await waitFor('the statement to stop running upstream', async () => (await running()) === 0);
  }, 30_000);
});

describe('grant mode: approvals', () => {
  it('holds a statement the grant policy sends for approval in the local store until a human approves it', async () => {
    const policy = compiled(
      {
        access: 'read-write',
        rules: [
          {
            name: 'order-changes',
            match: { kinds: ['write'], tables: ['orders'] },
            action: 'approve',
            message: 'a human confirms changes to orders',
          },
          { name: 'reads', match: { kinds: ['read', 'transaction', 'session'] }, action: 'allow' },
        ],
        approval: { wait: { limit: '1h' }, approvers: { users: ['alice'] } },
      },
      'approving',
    );
    await cluster().psql('GRANT UPDATE ON orders TO PUBLIC');
    const { proxy } = await granted(policy, {
      approvalDir: await mkdtemp(join(tmpdir(), 'pgwarden-grant-approvals-')),
    });
    const api = `http://127.0.0.1:${proxy.approvalAddress?.port}/approvals`;
    const client = pool.add(await pgClient(proxy.url));
    const update = client.query('update orders set amount = amount + 1 where id = 1');
    const pending = await waitFor('a pending approval request', async () => {
      const list = (await (await fetch(api)).json()) as { id: string; status: { phase: string } }[];
      return list.find((r) => r.status.phase === 'Pending');
    });
    const decided = await fetch(`${api}/${pending.id}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ by: 'alice' }),
    });
    expect(decided.status).toBe(200);
    expect((await within(10_000, 'the approved update', update)).rowCount).toBe(1);
  });
});

describe('grant mode: recording and masking', () => {
  it('suspends access when the grant records but the sidecar has no spool directory', async () => {
    const policy = compiled(
      {
        access: 'read-write',
        rules: rules('allow'),
        recording: { sink: { type: 'dir', path: await mkdtemp(join(tmpdir(), 'pgwarden-grant-sink-')) } },
      },
      'recorded',
    );
    operator = await FakeOperator.start(pki, { grant: grantFor(cluster(), { policy }) });
    const started = await startGrantProxy({ operator, tokenFile: join(dir, 'token'), caFile: pki.caFile });
    proxy = started;
    const error = await waitFor('the grant to be judged', async () => {
      const e = await connectError(started.url);
      return e.code === '28000' ? e : null;
    });
    expect(error.message).toBe(
      'pgwarden: access suspended: the grant cannot be enforced by this sidecar: policy agents/recorded records sessions (spec.recording), which needs --spool-dir (env PGWARDEN_SPOOL_DIR)',
    );
    expect(await isReady(started)).toBe(false);
  });

  it("records the pod and service account from the grant's subject, masks, and records a revocation", async () => {
    const sinkDir = await mkdtemp(join(tmpdir(), 'pgwarden-grant-sink-'));
    const policy = compiled(
      {
        access: 'read-write',
        rules: [{ name: 'reads', match: { kinds: ['read', 'transaction', 'session'] }, action: 'allow' }],
        masking: { columns: [{ column: 'public.people.ssn', strategy: 'redact' }] },
        recording: { flushInterval: '50ms', sink: { type: 'dir', path: sinkDir } },
      },
      'recorded',
    );
    const { operator, proxy } = await granted(policy, {
      spoolDir: await mkdtemp(join(tmpdir(), 'pgwarden-grant-spool-')),
    });
    const client = pool.add(await pgClient(proxy.url, { application_name: 'grant-recorded' }));
    const row = (await client.query('select name, ssn from people')).rows[0];
    expect(row.name).toBe('Ada');
    expect(row.ssn).not.toContain('6789');
    const ended = endedWith(client);
    operator.setAnswer({
      status: 403,
      refusal: {
        reason: 'pod-gone',
        message: 'pod agents/agent-0 no longer exists',
        retryAfterSeconds: null,
      },
    });
    expect((await within(10_000, 'the revocation', ended)).error.code).toBe('28000');

    const recording = await sealedRecording(sinkDir, 'grant-recorded');
    const [start] = eventsOf(recording, 'session-start');
    expect(start?.pod).toEqual({ namespace: 'agents', name: 'agent-0' });
    expect(start?.serviceAccount).toBe('coder');
    expect(start?.policy).toEqual({ name: 'recorded', hash: policy.hash });
    const [end] = eventsOf(recording, 'session-end');
    expect(end?.reason).toBe('terminated');
    expect(end?.message).toBe('pgwarden: access revoked: pod agents/agent-0 no longer exists (pod-gone)');
    expect(recording.text.includes('123-45-6789')).toBe(false);
  });

  it('records a policy change: the event names the new policy and hash, the decisions after it are the new policy’s', async () => {
    const sinkDir = await mkdtemp(join(tmpdir(), 'pgwarden-grant-sink-'));
    const recorded = (ordersAction: 'allow' | 'deny', name: string) =>
      compiled(
        {
          access: 'read-write',
          rules: rules(ordersAction),
          // The same recording settings: the session keeps its recorder, so it can move.
          recording: { flushInterval: '50ms', sink: { type: 'dir', path: sinkDir } },
        },
        name,
      );
    const before = recorded('allow', 'orders-open');
    const after = recorded('deny', 'orders-closed');
    const { operator, proxy } = await granted(before, {
      spoolDir: await mkdtemp(join(tmpdir(), 'pgwarden-grant-spool-')),
    });
    const client = pool.add(await pgClient(proxy.url, { application_name: 'grant-retarget' }));
    expect((await client.query('select count(*)::int as n from orders')).rows[0].n).toBe(3);
    operator.setAnswer({ grant: grantFor(cluster(), { policy: after }) });
    const moved = counter(proxy, 'pgwarden_grant_session_retargets_total');
    await waitFor(
      'the session to move',
      async () => (await counterValue(moved, { outcome: 'applied' })) === 1,
    );
    await expect(client.query('select count(*) from orders')).rejects.toThrow('orders are closed.');
    await client.end();

    const recording = await sealedRecording(sinkDir, 'grant-retarget');
    expect(eventsOf(recording, 'session-start')[0]?.policy).toEqual({
      name: 'orders-open',
      hash: before.hash,
    });
    expect(eventsOf(recording, 'policy-change').map((e) => e.policy)).toEqual([
      { name: 'orders-closed', hash: after.hash },
    ]);
    // In order: the allowed read under the old policy, the change, the denied one under the new.
    const sequence = recording.events
      .filter((e) => e.type === 'decision' || e.type === 'policy-change')
      .map((e) => (e.type === 'decision' ? `${e.outcome} ${e.rule}` : `change ${e.policy.name}`));
    expect(sequence).toEqual(['allow orders-rule', 'change orders-closed', 'deny orders-rule']);

    expect((await replay([sinkDir, '--session', recording.id, '--verify'])).code).toBe(0);
    const transcript = await replay([sinkDir, '--session', recording.id]);
    expect(transcript.code).toBe(0);
    expect(transcript.out).toMatch(
      new RegExp(
        `\\[\\+[0-9.]+s\\] policy changed to orders-closed sha256:${after.hash.slice(0, 12)}…; the decisions below are under it\\n`,
      ),
    );
    expect(transcript.out.indexOf('policy changed to')).toBeLessThan(
      transcript.out.lastIndexOf('DENY by rule'),
    );
  });
});
