import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { usePostgres } from '@pgwarden/e2e';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { loadProxyConfig } from '../../src/config/proxy-config.js';
import { startTestProxy, type TestProxy, useProxy } from '../support/proxy.js';
import {
  ClientPool,
  counterValue,
  errorFields,
  psql,
  queryMessage,
  RawConnection,
  scalar,
} from './helpers.js';

// The client side of the startup phase: which startup parameters pass, which
// are refused, encryption requests, and SCRAM authentication of clients.

const cluster = usePostgres();
// Upstream as scram_user, so the proxy's role is visibly not the client's.
const proxy = useProxy(cluster, { role: 'scram' });
const pool = new ClientPool();
afterEach(() => pool.endAll());

async function connectError(
  url: string,
  config: Omit<pg.ClientConfig, 'connectionString'> = {},
): Promise<pg.DatabaseError> {
  try {
    await pool.pg(url, config);
  } catch (err) {
    return err as pg.DatabaseError;
  }
  throw new Error('the connection unexpectedly succeeded');
}

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgwarden-client-auth-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('startup parameters', () => {
  it('refuses replication connections with 42501', async () => {
    for (const replication of ['database', 'true']) {
      const err = await connectError(proxy().url(), { replication } as pg.ClientConfig);
      expect(err.severity).toBe('FATAL');
      expect(err.code).toBe('42501');
      expect(err.message).toBe(
        'pgwarden: startup parameter "replication" is not allowed: replication connections are never proxied',
      );
    }
    // psql's replication connection too.
    const r = await psql(cluster(), `${proxy().url()}?replication=database`, ['-c', 'IDENTIFY_SYSTEM']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('FATAL:  pgwarden: startup parameter "replication" is not allowed');
  });

  it('refuses options (e.g. -c role=…) with 42501', async () => {
    const err = await connectError(proxy().url(), { options: '-c role=pgwarden' });
    expect(err.code).toBe('42501');
    expect(err.message).toContain('startup parameter "options" is not allowed');
    expect(err.hint).toMatch(/Remove it from the connection string/);
    const r = await psql(
      cluster(),
      `${proxy().url()}?options=${encodeURIComponent('-c session_authorization=pgwarden')}`,
      ['-c', 'select 1'],
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('startup parameter "options" is not allowed');
  });

  it('refuses role and session_authorization as startup parameters, in any case', async () => {
    for (const name of ['role', 'session_authorization', 'ROLE', 'Session_Authorization']) {
      const raw = await RawConnection.open(proxy().port);
      try {
        const messages = await raw.startup({ user: 'agent', database: 'app', [name]: 'pgwarden' });
        const error = messages.at(-1);
        expect(error?.code).toBe('E');
        expect(errorFields(error?.body ?? Buffer.alloc(0))).toMatchObject({
          S: 'FATAL',
          C: '42501',
          M: expect.stringContaining(`"${name}" is not allowed`),
        });
        await raw.closed;
      } finally {
        raw.destroy();
      }
    }
  });

  it('replication=false is allowed: it asks for no replication', async () => {
    const client = await pool.pg(proxy().url(), { replication: 'false' } as pg.ClientConfig);
    expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
  });

  it('ignores the user and database the client asks for', async () => {
    const client = await pool.pg(`postgresql://someone_else@127.0.0.1:${proxy().port}/no_such_database`);
    const r = await client.query('select current_user as u, session_user as s, current_database() as db');
    expect(r.rows).toEqual([{ u: cluster().users.scram.user, s: cluster().users.scram.user, db: 'app' }]);
  });

  it('passes application_name and other session parameters through', async () => {
    const client = await pool.pg(proxy().url(), {
      application_name: 'pgwarden-test/1',
      statement_timeout: 12345,
    });
    const r = await client.query(
      "select application_name, current_setting('statement_timeout') as st from pg_stat_activity where pid = pg_backend_pid()",
    );
    expect(r.rows).toEqual([{ application_name: 'pgwarden-test/1', st: '12345ms' }]);
    // The upstream sees it too, from outside the session.
    expect(
      await scalar(
        cluster(),
        "select count(*) from pg_stat_activity where application_name = 'pgwarden-test/1'",
      ),
    ).toBe('1');

    // libpq: application_name and client_encoding from the connection string; the server reports them back.
    const p = await psql(cluster(), `${proxy().url()}?application_name=from_psql&client_encoding=LATIN1`, [
      '-A',
      '-t',
      '-c',
      "select current_setting('application_name') || ' ' || current_setting('client_encoding')",
    ]);
    expect(p.stdout.trim()).toBe('from_psql LATIN1');
  });

  it('answers SSLRequest with N: sslmode=prefer works, sslmode=require fails clearly', async () => {
    const prefer = await psql(cluster(), `${proxy().url()}?sslmode=prefer`, ['-A', '-t', '-c', 'select 42']);
    expect(prefer.stderr).toBe('');
    expect(prefer.stdout.trim()).toBe('42');
    const require = await psql(cluster(), `${proxy().url()}?sslmode=require`, ['-c', 'select 42']);
    expect(require.code).toBe(2);
    expect(require.stderr).toContain('server does not support SSL, but SSL was required');
  });

  it('answers GSSENCRequest and SSLRequest with N on the same connection, then starts normally', async () => {
    const raw = await RawConnection.open(proxy().port);
    try {
      expect(await raw.encryptionRequest('gssenc')).toBe('N');
      expect(await raw.encryptionRequest('ssl')).toBe('N');
      const messages = await raw.startup();
      expect(messages.map((m) => m.code)).toContain('R');
      expect(messages.at(-1)?.code).toBe('Z');
      // BackendKeyData is the proxy's own: not the upstream backend's pid.
      const key = messages.find((m) => m.code === 'K');
      expect(key).toBeDefined();
      raw.write(queryMessage('select pg_backend_pid()::text'));
      const answer = await raw.untilReady();
      const row = answer.find((m) => m.code === 'D');
      const upstreamPid = Number(row?.body.toString('utf8', 6));
      expect(upstreamPid).toBeGreaterThan(0);
      expect(key?.body.readInt32BE(0)).not.toBe(upstreamPid);
    } finally {
      raw.destroy();
    }
  });

  it('negotiates a newer protocol minor version and unknown _pq_ options down to 3.0', async () => {
    const raw = await RawConnection.open(proxy().port);
    try {
      const messages = await raw.startup(
        { user: 'agent', database: 'app', '_pq_.test_option': 'x' },
        0x0003_0002,
      );
      const negotiate = messages.find((m) => m.code === 'v');
      expect(negotiate).toBeDefined();
      expect(negotiate?.body.readInt32BE(0)).toBe(0); // newest minor version supported
      expect(negotiate?.body.readInt32BE(4)).toBe(1); // one option not recognized
      expect(negotiate?.body.toString('utf8', 8)).toBe('_pq_.test_option\0');
      expect(messages.at(-1)?.code).toBe('Z');
    } finally {
      raw.destroy();
    }
  });
});

describe('client authentication with SCRAM-SHA-256', () => {
  const clientPassword = 'client-secret-Ω-1';
  let scramProxy: TestProxy;
  beforeAll(async () => {
    const file = join(dir, 'client-password');
    await writeFile(file, `${clientPassword}\n`);
    scramProxy = await startTestProxy(cluster(), { clientAuth: 'scram-sha-256', clientPasswordFile: file });
  });
  afterAll(() => scramProxy?.drain(1000));

  const url = (password?: string) =>
    `postgresql://agent${password === undefined ? '' : `:${encodeURIComponent(password)}`}@127.0.0.1:${scramProxy.port}/app`;

  it('accepts the right password (node-postgres and psql)', async () => {
    const client = await pool.pg(url(clientPassword));
    expect((await client.query('select current_user as u')).rows).toEqual([{ u: 'pgwarden' }]);
    const r = await psql(cluster(), url(clientPassword), ['-A', '-t', '-c', 'select 7']);
    expect(r.stdout.trim()).toBe('7');
  });

  it('refuses a wrong password with 28P01 before connecting upstream', async () => {
    const before = await counterValue(scramProxy.metrics.connectionsTotal, { outcome: 'auth_failed' });
    const upstreamSessionsBefore = await scalar(
      cluster(),
      "select count(*) from pg_stat_activity where backend_type = 'client backend'",
    );
    const err = await connectError(url('wrong password'));
    expect(err.severity).toBe('FATAL');
    expect(err.code).toBe('28P01');
    expect(err.message).toBe('pgwarden: password authentication failed for user "agent"');
    expect(await counterValue(scramProxy.metrics.connectionsTotal, { outcome: 'auth_failed' })).toBe(
      before + 1,
    );
    // At most as many: a backend of an earlier test may still be exiting, but none may have been added.
    expect(
      Number(
        await scalar(
          cluster(),
          "select count(*) from pg_stat_activity where backend_type = 'client backend'",
        ),
      ),
    ).toBeLessThanOrEqual(Number(upstreamSessionsBefore));
    const r = await psql(cluster(), url('also wrong'), ['-c', 'select 1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('FATAL:  pgwarden: password authentication failed for user "agent"');
  });

  it('asks libpq for a password when none is given', async () => {
    const r = await psql(cluster(), url(), ['-w', '-c', 'select 1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no password supplied|password authentication failed/);
  });
});

describe('proxy configuration (unit level)', () => {
  const upstream = 'postgresql://u:p@127.0.0.1:5432/db';

  it('refuses trust on a non-loopback listen address', () => {
    for (const listen of ['0.0.0.0:6432', '10.1.2.3:6432', ':6432', '[::]:6432']) {
      expect(() => loadProxyConfig({ listen, upstream, policy: 'none' })).toThrow(ConfigError);
      expect(() => loadProxyConfig({ listen, upstream, policy: 'none', clientAuth: 'trust' })).toThrow(
        /trust is only allowed on a loopback listen address/,
      );
    }
  });

  it('allows trust on loopback and SCRAM (with a password file) anywhere', async () => {
    for (const listen of ['127.0.0.1:6432', 'localhost:6432', '[::1]:6432', '127.1.2.3:6432']) {
      expect(loadProxyConfig({ listen, upstream, policy: 'none' }).clientAuth.method).toBe('trust');
    }
    const file = join(dir, 'pw');
    await writeFile(file, 'x\n');
    const config = loadProxyConfig({
      listen: '0.0.0.0:6432',
      upstream,
      policy: 'none',
      clientPasswordFile: file,
    });
    expect(config.clientAuth.method).toBe('scram-sha-256');
    expect(config.clientAuth.password?.reveal()).toBe('x');
    expect(() =>
      loadProxyConfig({ listen: '0.0.0.0:6432', upstream, policy: 'none', clientAuth: 'scram-sha-256' }),
    ).toThrow(/needs --client-password-file/);
    await writeFile(join(dir, 'empty'), '');
    expect(() =>
      loadProxyConfig({ upstream, policy: 'none', clientPasswordFile: join(dir, 'empty') }),
    ).toThrow(/is empty/);
  });
});
