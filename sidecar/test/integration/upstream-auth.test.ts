import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type Role, usePostgres } from '@pgwarden/e2e';
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import { ClientPool, counterValue, LogCapture, psql, waitFor, within } from './helpers.js';

// The proxy authenticates upstream with whatever method pg_hba asks for, keeps
// the credential out of every log line and error, and turns an unreachable or
// lost upstream into a clear 08006/57P01 error.

const cluster = usePostgres();
const pool = new ClientPool();
const proxies: TestProxy[] = [];
afterEach(async () => {
  await pool.endAll();
  await Promise.all(proxies.splice(0).map((p) => p.drain(1000)));
});

async function proxyFor(options: Parameters<typeof startTestProxy>[1] = {}) {
  const logs = new LogCapture();
  const proxy = await startTestProxy(cluster(), { logLevel: 'trace', logDestination: logs, ...options });
  proxies.push(proxy);
  return { proxy, logs };
}

async function connectError(url: string): Promise<pg.DatabaseError> {
  try {
    await pool.pg(url);
  } catch (err) {
    return err as pg.DatabaseError;
  }
  throw new Error('the connection unexpectedly succeeded');
}

/** The upstream URL for `role` with its password replaced. */
function withPassword(role: Role, password: string, params: Record<string, string> = {}): string {
  const url = new URL(cluster().url(role, params));
  url.password = password;
  return url.toString();
}

describe('upstream authentication', () => {
  for (const [role, method] of [
    ['scram', 'SCRAM-SHA-256'],
    ['md5', 'MD5'],
    ['plain', 'cleartext password'],
  ] as const) {
    it(`authenticates upstream with ${method} (${role})`, async () => {
      const { proxy, logs } = await proxyFor({ role });
      const client = await pool.pg(proxy.url());
      const r = await client.query('select current_user as who, current_database() as db');
      expect(r.rows).toEqual([{ who: cluster().users[role].user, db: 'app' }]);
      // pg_hba makes the server insist on exactly this method for the role.
      const expected = { scram: 'scram-sha-256', md5: 'md5', plain: 'password' }[role];
      const hba = await cluster().psql(
        `select auth_method from pg_hba_file_rules where user_name = '{${cluster().users[role].user}}' and address = '127.0.0.1'`,
      );
      expect(hba).toBe(expected);
      expect(logs.text).not.toContain(cluster().users[role].password);
    });
  }

  for (const role of ['scram', 'md5', 'plain'] as const) {
    it(`a wrong ${role} password: FATAL 28P01 to the client, and the password is nowhere`, async () => {
      const wrong = `Wr0ng-${role}-Pa55word-${Date.now()}`;
      const { proxy, logs } = await proxyFor({ upstream: withPassword(role, wrong) });
      const before = await counterValue(proxy.metrics.connectionsTotal, { outcome: 'auth_failed' });
      const err = await connectError(proxy.url());
      expect(err.severity).toBe('FATAL');
      expect(err.code).toBe('28P01');
      expect(err.message).toContain(
        `password authentication failed for user "${cluster().users[role].user}"`,
      );
      expect(err.message).toMatch(/^pgwarden: upstream 127\.0\.0\.1:\d+\/app refused the session/);
      for (const text of [err.message, err.detail ?? '', err.hint ?? '', JSON.stringify(err), logs.text]) {
        expect(text).not.toContain(wrong);
        expect(text).not.toContain(cluster().users[role].password);
      }
      // The failure is logged (without the secret) and counted.
      expect(logs.events.some((e) => e.msg === 'connection refused' && e.sqlstate === '28P01')).toBe(true);
      expect(await counterValue(proxy.metrics.connectionsTotal, { outcome: 'auth_failed' })).toBe(before + 1);

      // psql sees the same.
      const r = await psql(cluster(), proxy.url(), ['-c', 'select 1']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('FATAL:  pgwarden: upstream');
      expect(r.stderr).toContain('password authentication failed');
      expect(r.stderr).not.toContain(wrong);
    });
  }

  it('a password from --upstream-password-file wins over the URL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgwarden-auth-'));
    try {
      const file = join(dir, 'password');
      await writeFile(file, `${cluster().users.scram.password}\n`);
      const { proxy, logs } = await proxyFor({
        upstream: withPassword('scram', 'not-this-one'),
        upstreamPasswordFile: file,
      });
      const client = await pool.pg(proxy.url());
      expect((await client.query('select current_user as u')).rows).toEqual([
        { u: cluster().users.scram.user },
      ]);
      expect(logs.text).not.toContain(cluster().users.scram.password);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('no password configured for a role that needs one: a clear 28000, not a hang', async () => {
    const url = new URL(cluster().url('scram'));
    url.password = '';
    const { proxy } = await proxyFor({ upstream: url.toString() });
    const err = await connectError(proxy.url());
    expect(err.code).toBe('28000');
    expect(err.message).toContain('the server asks for a password but none is configured');
  });

  it('the startup log names the upstream without its credentials', async () => {
    const { logs } = await proxyFor({ role: 'scram' });
    const listening = logs.events.find((e) => e.msg === 'pgwarden proxy listening');
    expect(listening?.upstream).toBe(`127.0.0.1:${cluster().port}/app`);
    expect(logs.text).not.toContain(cluster().users.scram.password);
  });
});

describe('upstream failures', () => {
  it('an unreachable upstream: 08006 naming the endpoint and the cause', async () => {
    const closedPort = await freePort();
    const { proxy, logs } = await proxyFor({
      upstream: `postgresql://pgwarden:s3cret-unreachable@127.0.0.1:${closedPort}/app`,
    });
    const err = await connectError(proxy.url());
    expect(err.code).toBe('08006');
    expect(err.message).toBe(
      `pgwarden: cannot connect to upstream 127.0.0.1:${closedPort}/app: ECONNREFUSED`,
    );
    expect(err.hint).toMatch(/database is running and reachable/);
    expect(logs.text).not.toContain('s3cret-unreachable');
    expect(await counterValue(proxy.metrics.upstreamErrors, { kind: 'connect' })).toBe(1);
  });

  // connect_timeout bounds the whole upstream handshake, TLS negotiation included.
  for (const [sslmode, stall] of [
    ['disable', 'never answers'],
    ['prefer', 'never answers'],
    ['require', 'never answers'],
    ['require', 'accepts TLS, then stalls the TLS handshake'],
  ] as const) {
    it(`a server that ${stall} (sslmode=${sslmode}): 08006 after connect_timeout`, async () => {
      const accepted = new Set<Socket>();
      const silent = createServer((socket) => {
        accepted.add(socket);
        socket.on('error', () => {});
        if (stall !== 'never answers') socket.once('data', () => socket.write('S'));
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const port = (silent.address() as AddressInfo).port;
      try {
        const { proxy } = await proxyFor({
          upstream: `postgresql://pgwarden:pw@127.0.0.1:${port}/app?sslmode=${sslmode}&connect_timeout=1`,
        });
        const started = Date.now();
        const err = await within(5000, 'the refusal', connectError(proxy.url()));
        expect(err.code).toBe('08006');
        expect(err.message).toMatch(
          new RegExp(`^pgwarden: (cannot connect|TLS) to upstream 127\\.0\\.0\\.1:${port}/app`),
        );
        expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      } finally {
        for (const socket of accepted) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    });
  }

  it('TLS required but the server has none: 08006 saying so', async () => {
    const { proxy } = await proxyFor({ upstreamParams: { sslmode: 'require' } });
    const err = await connectError(proxy.url());
    expect(err.code).toBe('08006');
    expect(err.message).toMatch(/TLS to upstream .* failed: server does not support TLS but sslmode=require/);
  });

  it('sslmode=prefer falls back to plaintext on a server without TLS', async () => {
    const { proxy } = await proxyFor({ upstreamParams: { sslmode: 'prefer' } });
    const client = await pool.pg(proxy.url());
    expect((await client.query('select ssl from pg_stat_ssl where pid = pg_backend_pid()')).rows).toEqual([
      { ssl: false },
    ]);
  });

  // The last two restart the cluster.
  it("upstream fast shutdown mid-query: the server's own FATAL 57P01 reaches the client unchanged", async () => {
    const { proxy } = await proxyFor();
    const busy = await pool.pg(proxy.url());
    const inFlight = busy.query('select pg_sleep(30)').then(
      () => null,
      (e: pg.DatabaseError) => e,
    );
    await waitFor(
      'the sleep to run upstream',
      async () =>
        (await cluster().psql(
          "select count(*) from pg_stat_activity where query = 'select pg_sleep(30)'",
        )) === '1',
    );
    const before = await counterValue(proxy.metrics.upstreamErrors, { kind: 'lost' });
    await cluster().restart();
    const err = await inFlight;
    expect(err?.code).toBe('57P01');
    expect(err?.severity).toBe('FATAL');
    expect(err?.message).toBe('terminating connection due to administrator command');
    // The server said why it closed: the proxy does not count that as a lost upstream.
    expect(await counterValue(proxy.metrics.upstreamErrors, { kind: 'lost' })).toBe(before);
    const fresh = await pool.pg(proxy.url());
    expect((await fresh.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
  });

  it('upstream crash mid-session: the client gets 57P01/08006, new sessions fail clearly, then work after restart', async () => {
    const { proxy, logs } = await proxyFor();
    const busy = await pool.pg(proxy.url());
    const idle = await pool.pg(proxy.url());
    const idleErrors: Error[] = [];
    idle.on('error', (e) => idleErrors.push(e));
    const idleEnded = new Promise<void>((resolve) => idle.once('end', () => resolve()));
    await idle.query('select 1');

    const inFlight = busy.query('select pg_sleep(30)').then(
      () => null,
      (e: pg.DatabaseError) => e,
    );
    // Wait for the sleep to be running upstream, then crash the server (immediate shutdown).
    await waitFor(
      'the sleep to run upstream',
      async () =>
        (await cluster().psql(
          "select count(*) from pg_stat_activity where query = 'select pg_sleep(30)'",
        )) === '1',
    );
    await cluster().kill();

    const err = await inFlight;
    expect(err).not.toBeNull();
    // PostgreSQL 15's immediate shutdown may or may not say goodbye before the socket closes.
    expect(['57P01', '08006']).toContain(err?.code);
    if (err?.code === '08006') expect(err.message).toMatch(/lost the connection to upstream/);
    else expect(err?.message).toMatch(/terminating connection/);
    await idleEnded;
    expect(idleErrors.length).toBeGreaterThanOrEqual(1);

    // While the server is down, a new session is refused with a clear error.
    const down = await connectError(proxy.url());
    expect(down.code).toBe('08006');
    expect(down.message).toMatch(/cannot connect to upstream .*ECONNREFUSED/);

    await cluster().start();
    const fresh = await pool.pg(proxy.url());
    expect((await fresh.query('select 42 as answer')).rows).toEqual([{ answer: 42 }]);
    expect(logs.text).not.toContain(cluster().superuser.password);
  });
});
