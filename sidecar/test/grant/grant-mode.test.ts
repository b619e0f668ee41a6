import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPki, type TestPki, usePostgres } from '@pgwarden/e2e';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProxy } from '../../src/proxy/server.js';
import { ClientPool, counterValue, pgClient, psql, waitFor, within } from '../integration/helpers.js';
import {
  type Answer,
  compiled,
  connectError,
  counter,
  endedWith,
  FakeOperator,
  grantFor,
  isReady,
  startGrantProxy,
} from './support.js';

// Grant mode against a real Postgres and real clients, with the operator's
// grant API played by an HTTPS server in this process (the real operator is
// exercised by the operator's own e2e suite).

const cluster = usePostgres();
const pool = new ClientPool();
let pki: TestPki;
let dir: string;
let tokenFile: string;
let operator: FakeOperator | undefined;
let proxy: (RunningProxy & { url: string }) | undefined;

/** Reads of orders allowed; the only difference between the two policies is whether orders may be read. */
const openPolicy = compiled(
  {
    access: 'read-write',
    rules: [
      {
        name: 'no-secrets',
        match: { tables: ['secrets'] },
        action: 'deny',
        message: 'Secrets are off limits.',
      },
      { name: 'reads', match: { kinds: ['read', 'transaction', 'session'] }, action: 'allow' },
    ],
  },
  'open-reads',
);
const closedPolicy = compiled(
  {
    access: 'read-write',
    rules: [
      {
        name: 'orders-closed',
        match: { tables: ['orders'] },
        action: 'deny',
        message: 'orders are closed for the audit.',
      },
      { name: 'reads', match: { kinds: ['read', 'transaction', 'session'] }, action: 'allow' },
    ],
  },
  'closed-orders',
);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgwarden-grant-'));
  pki = await createTestPki(join(dir, 'pki'));
  tokenFile = join(dir, 'token');
  await writeFile(tokenFile, 'token-1\n');
  await cluster().psql(`
    CREATE TABLE orders (id int PRIMARY KEY, amount int);
    INSERT INTO orders SELECT i, i * 10 FROM generate_series(1, 3) i;
    CREATE TABLE secrets (v text);
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

afterAll(async () => {
  await writeFile(tokenFile, 'token-1\n');
});

async function start(initial: Answer, caFile = pki.caFile, longPoll = true) {
  operator = await FakeOperator.start(pki, initial, { longPoll });
  proxy = await startGrantProxy({ operator, tokenFile, caFile });
  return { operator, proxy };
}

describe('grant mode', () => {
  it('waits for the first grant, then enforces its policy with its credential', async () => {
    const { operator, proxy } = await start({
      status: 503,
      refusal: { reason: 'unavailable', message: 'the API server is unreachable', retryAfterSeconds: 1 },
    });
    expect(await isReady(proxy)).toBe(false);
    const early = await waitFor('a refusal naming the failed request', async () => {
      const e = await connectError(proxy.url);
      return e.message.includes('(') ? e : null;
    });
    expect(early.code).toBe('57P03');
    expect(early.message).toMatch(/^pgwarden: no grant yet/);
    expect(early.message).toContain('the API server is unreachable');

    operator.setAnswer({ grant: grantFor(cluster(), { policy: openPolicy }) });
    await waitFor('readiness', () => isReady(proxy));
    const r = await psql(cluster(), proxy.url, ['-At', '-c', 'select current_user, count(*) from orders']);
    expect(r.stdout.trim()).toBe(`${cluster().users.scram.user}|3`);
    const denied = await psql(cluster(), proxy.url, ['-c', 'select * from secrets']);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('Secrets are off limits.');
    expect(denied.stderr).toContain('no-secrets');
    expect(operator.requests[0]?.authorization).toBe('Bearer token-1');
  });

  it('applies a changed policy to the next statement of an open session without dropping it', async () => {
    const { operator, proxy } = await start({ grant: grantFor(cluster(), { policy: openPolicy }) });
    await waitFor('readiness', () => isReady(proxy));
    const client = pool.add(await pgClient(proxy.url));
    const pid = (await client.query('select pg_backend_pid() as pid')).rows[0].pid;
    expect((await client.query('select count(*)::int as n from orders')).rows[0].n).toBe(3);

    operator.setAnswer({ grant: grantFor(cluster(), { policy: closedPolicy }) });
    const refused = await waitFor('the new policy to apply', async () =>
      client.query('select count(*) from orders').then(
        () => null,
        (err: pg.DatabaseError) => err,
      ),
    );
    expect(refused.code).toBe('42501');
    expect(refused.message).toContain('orders are closed for the audit.');
    expect((await client.query('select pg_backend_pid() as pid')).rows[0].pid).toBe(pid);
    expect(
      await counterValue(counter(proxy, 'pgwarden_grant_session_retargets_total'), { outcome: 'applied' }),
    ).toBe(1);
    const fresh = pool.add(await pgClient(proxy.url));
    await expect(fresh.query('select * from orders')).rejects.toThrow('orders are closed for the audit.');
  });

  it('revocation ends open sessions with FATAL 28000 and refuses new ones; a new grant restores access', async () => {
    const { operator, proxy } = await start({ grant: grantFor(cluster(), { policy: openPolicy }) });
    await waitFor('readiness', () => isReady(proxy));
    const client = pool.add(await pgClient(proxy.url));
    await client.query('select 1');
    const ended = endedWith(client);
    await waitFor('the long poll to be held', () => operator.requests.some((r) => r.body.waitSeconds > 0));

    operator.setAnswer({
      status: 403,
      refusal: {
        reason: 'no-policy',
        message: 'no AgentAccessPolicy binds pod agents/agent-0',
        retryAfterSeconds: null,
      },
    });
    const { error, at } = await within(10_000, 'the session to end', ended);
    expect(error.code).toBe('28000');
    expect(error.severity).toBe('FATAL');
    expect(error.message).toBe(
      'pgwarden: access revoked: no AgentAccessPolicy binds pod agents/agent-0 (no-policy)',
    );
    console.log(
      `grant mode: revocation latency from the long poll answer to the client's FATAL: ${at - (operator.answeredAt as number)} ms`,
    );
    const refused = await connectError(proxy.url);
    expect(refused.code).toBe('28000');
    expect(refused.message).toContain('access revoked');
    expect(await isReady(proxy)).toBe(false);
    // The sidecar keeps asking; the same refusal again is no new revocation.
    const refusedSoFar = operator.requests.length;
    await waitFor('two more refused requests', () => operator.requests.length >= refusedSoFar + 2);
    expect(
      await counterValue(counter(proxy, 'pgwarden_grant_revocations_total'), { reason: 'no-policy' }),
    ).toBe(1);

    operator.setAnswer({ grant: grantFor(cluster(), { policy: openPolicy }) });
    await waitFor('access to resume', () => isReady(proxy), 30_000);
    const again = pool.add(await pgClient(proxy.url));
    expect((await again.query('select count(*)::int as n from orders')).rows[0].n).toBe(3);
  });

  it('keeps sessions working while the operator is unreachable until the grant expires, then ends them', async () => {
    const lifetimeMs = 6000;
    const grant = grantFor(cluster(), { policy: openPolicy, expiresInMs: lifetimeMs, refreshInMs: 1000 });
    const { operator, proxy } = await start({ grant });
    await waitFor('readiness', () => isReady(proxy));
    const client = pool.add(await pgClient(proxy.url));
    const ended = endedWith(client);
    await operator.down();
    await waitFor(
      'a failed refresh',
      async () =>
        (await counterValue(counter(proxy, 'pgwarden_grant_requests_total'), { result: 'failed' })) > 0,
    );
    // Past refreshAt and with the operator gone, the held grant still serves.
    expect((await client.query('select count(*)::int as n from orders')).rows[0].n).toBe(3);
    const { error, at } = await within(lifetimeMs + 10_000, 'the grant to expire', ended);
    expect(error.code).toBe('28000');
    expect(error.message).toMatch(
      /^pgwarden: access revoked: grant expired at \S+ and the operator did not renew it \(/,
    );
    expect(at).toBeGreaterThanOrEqual(Date.parse(grant.expiresAt));
    expect(error.message).toContain(grant.expiresAt);
    const refused = await connectError(proxy.url);
    expect(refused.code).toBe('28000');
    expect(refused.message).toContain('grant expired');
    expect(
      await counterValue(counter(proxy, 'pgwarden_grant_revocations_total'), { reason: 'expired' }),
    ).toBe(1);
  }, 30_000);

  it('waits as long as Retry-After says when rate-limited', async () => {
    const { operator, proxy } = await start({
      status: 429,
      refusal: {
        reason: 'rate-limited',
        message: 'too many grant requests from pod agents/agent-0',
        retryAfterSeconds: null,
      },
      retryAfter: 2,
    });
    await waitFor('the first request', () => operator.requests.length >= 1);
    operator.setAnswer({ grant: grantFor(cluster(), { policy: openPolicy }) });
    await waitFor('readiness', () => isReady(proxy));
    const [first, second] = operator.requests;
    const gapMs = (second?.at ?? 0) - (first?.at ?? 0);
    console.log(`grant mode: retry after a 429 with Retry-After: 2 came ${gapMs} ms later`);
    // Node timers may fire up to a millisecond early as Date.now() sees it.
    expect(gapMs).toBeGreaterThanOrEqual(1990);
    expect(
      await counterValue(counter(proxy, 'pgwarden_grant_requests_total'), { result: 'rate_limited' }),
    ).toBe(1);
  });

  it('an operator that answers a long poll at once is asked at most once a second', async () => {
    const { operator, proxy } = await start(
      { grant: grantFor(cluster(), { policy: openPolicy }) },
      pki.caFile,
      false,
    );
    await waitFor('readiness', () => isReady(proxy));
    await waitFor('four requests', () => operator.requests.length >= 4);
    const gaps = operator.requests.slice(1).map((r, i) => r.at - (operator.requests[i] as { at: number }).at);
    console.log(
      `grant mode: gaps between requests to an operator without long polling: ${gaps.join(', ')} ms`,
    );
    // Node timers may fire up to a millisecond early as Date.now() sees it.
    for (const gap of gaps.slice(1)) expect(gap).toBeGreaterThanOrEqual(990);
  });

  it('reads the token file again for every request', async () => {
    const { operator, proxy } = await start({ grant: grantFor(cluster(), { policy: openPolicy }) });
    await waitFor('readiness', () => isReady(proxy));
    await writeFile(tokenFile, 'token-2\n');
    // A new version answers the held long poll; the next request reads the rotated token.
    operator.setAnswer({ grant: grantFor(cluster(), { policy: closedPolicy }) });
    await waitFor('a request with the rotated token', () =>
      operator.requests.some((r) => r.authorization === 'Bearer token-2'),
    );
    expect(operator.requests[0]?.authorization).toBe('Bearer token-1');
    await writeFile(tokenFile, 'token-1\n');
  });

  it('trusts only the given CA: an operator certificate it did not sign gives no grant', async () => {
    const { proxy } = await start({ grant: grantFor(cluster(), { policy: openPolicy }) }, pki.wrongCaFile);
    const error = await waitFor('a refusal naming the certificate', async () => {
      const e = await connectError(proxy.url);
      return /certificate/i.test(e.message) ? e : null;
    });
    expect(error.code).toBe('57P03');
    expect(error.message).toMatch(
      /^pgwarden: no grant yet: the operator's grant API did not give one \(.*certificate/,
    );
    expect(await isReady(proxy)).toBe(false);
  });

  it('fails closed on an answer that is not a grant', async () => {
    const { proxy } = await start({ status: 200, raw: '{"kind":"Grant","policy":{}}' });
    const error = await waitFor('a refusal naming the bad answer', async () => {
      const e = await connectError(proxy.url);
      return e.message.includes('not a valid grant') ? e : null;
    });
    expect(error.code).toBe('57P03');
    expect(error.message).toMatch(/the answer is not a valid grant: apiVersion: /);
    expect(
      await counterValue(counter(proxy, 'pgwarden_grant_requests_total'), { result: 'invalid_answer' }),
    ).toBeGreaterThan(0);
  });
});
