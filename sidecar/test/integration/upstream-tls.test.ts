import { connect, createServer, type Server, type Socket } from 'node:net';
import { usePostgres } from '@pgwarden/e2e';
import type pg from 'pg';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import { ClientPool, counterValue, LogCapture, waitFor } from './helpers.js';

// TLS to the upstream in every sslmode, against a CA and server certificate
// generated for this cluster (SAN: DNS:localhost, IP:127.0.0.1, IP:::1).

const cluster = usePostgres({ tls: true });
const pool = new ClientPool();
const proxies: TestProxy[] = [];
afterEach(async () => {
  await pool.endAll();
  await Promise.all(proxies.splice(0).map((p) => p.drain(1000)));
});

/**
 * A plain TCP forwarder on 127.0.0.2 to the cluster: the same server and
 * certificate, reached under a name the certificate does not cover.
 */
let forwarder: Server;
let forwarderPort = 0;
beforeAll(async () => {
  const sockets = new Set<Socket>();
  forwarder = createServer((client) => {
    const server = connect({ host: '127.0.0.1', port: cluster().port });
    for (const s of [client, server]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(server).pipe(client);
  });
  forwarder.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  await new Promise<void>((resolve) => forwarder.listen(0, '127.0.0.2', resolve));
  forwarderPort = (forwarder.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((resolve) => forwarder?.close(resolve));
});

/** The superuser's upstream URL with another host/port and TLS parameters. */
function upstream(params: Record<string, string>, host = '127.0.0.1', port = cluster().port): string {
  const url = new URL(cluster().url('superuser', params));
  url.hostname = host;
  url.port = String(port);
  return url.toString();
}

async function proxyFor(upstreamUrl: string) {
  const logs = new LogCapture();
  const proxy = await startTestProxy(cluster(), {
    upstream: upstreamUrl,
    logLevel: 'trace',
    logDestination: logs,
  });
  proxies.push(proxy);
  return { proxy, logs };
}

async function sslOfSession(proxy: TestProxy) {
  const client = await pool.pg(proxy.url());
  const r = await client.query(
    'select ssl, version, cipher is not null as has_cipher from pg_stat_ssl where pid = pg_backend_pid()',
  );
  return r.rows[0] as { ssl: boolean; version: string | null; has_cipher: boolean };
}

async function connectError(proxy: TestProxy): Promise<pg.DatabaseError> {
  try {
    await pool.pg(proxy.url());
  } catch (err) {
    return err as pg.DatabaseError;
  }
  throw new Error('the connection unexpectedly succeeded');
}

describe('TLS to the upstream', () => {
  it('verify-full with the generated CA, by IP address (IP SAN)', async () => {
    const { proxy, logs } = await proxyFor(
      upstream({ sslmode: 'verify-full', sslrootcert: cluster().tls?.caFile ?? '' }),
    );
    expect(await sslOfSession(proxy)).toEqual({
      ssl: true,
      version: expect.stringMatching(/^TLSv1\.[23]$/),
      has_cipher: true,
    });
    expect(logs.text).not.toContain(cluster().superuser.password);
  });

  it('verify-full with the generated CA, by host name (DNS SAN)', async () => {
    const { proxy } = await proxyFor(
      upstream({ sslmode: 'verify-full', sslrootcert: cluster().tls?.caFile ?? '' }, 'localhost'),
    );
    expect((await sslOfSession(proxy)).ssl).toBe(true);
  });

  it('verify-full refuses a name the certificate does not cover; verify-ca accepts it', async () => {
    const ca = cluster().tls?.caFile ?? '';
    const full = await proxyFor(
      upstream({ sslmode: 'verify-full', sslrootcert: ca }, '127.0.0.2', forwarderPort),
    );
    const err = await connectError(full.proxy);
    expect(err.code).toBe('08006');
    expect(err.message).toContain(`pgwarden: TLS to upstream 127.0.0.2:${forwarderPort}/app failed:`);
    expect(err.message).toMatch(/IP: 127\.0\.0\.2 is not in the cert's list/);
    expect(err.hint).toMatch(/host name must match/);

    const verifyCa = await proxyFor(
      upstream({ sslmode: 'verify-ca', sslrootcert: ca }, '127.0.0.2', forwarderPort),
    );
    expect((await sslOfSession(verifyCa.proxy)).ssl).toBe(true);
  });

  for (const mode of ['verify-full', 'verify-ca'] as const) {
    it(`${mode} with the wrong CA fails with a clear 08006 naming the certificate problem`, async () => {
      const { proxy, logs } = await proxyFor(
        upstream({ sslmode: mode, sslrootcert: cluster().tls?.wrongCaFile ?? '' }),
      );
      const before = await counterValue(proxy.metrics.upstreamErrors, { kind: 'tls' });
      const err = await connectError(proxy);
      expect(err.severity).toBe('FATAL');
      expect(err.code).toBe('08006');
      expect(err.message).toMatch(/^pgwarden: TLS to upstream 127\.0\.0\.1:\d+\/app failed: .*certificate/);
      expect(err.hint).toMatch(/the CA must sign the server certificate/);
      expect(await counterValue(proxy.metrics.upstreamErrors, { kind: 'tls' })).toBe(before + 1);
      expect(logs.text).not.toContain(cluster().superuser.password);
    });
  }

  it('a missing sslrootcert file is an 08006 naming the problem', async () => {
    const { proxy } = await proxyFor(
      upstream({ sslmode: 'verify-full', sslrootcert: '/nonexistent/ca.pem' }),
    );
    const err = await connectError(proxy);
    expect(err.code).toBe('08006');
    expect(err.message).toContain('cannot read sslrootcert: ENOENT');
  });

  it('require encrypts without verifying', async () => {
    const { proxy } = await proxyFor(upstream({ sslmode: 'require' }));
    expect((await sslOfSession(proxy)).ssl).toBe(true);
  });

  it('prefer (the loopback default) uses TLS when the server offers it; disable does not', async () => {
    expect((await sslOfSession((await proxyFor(upstream({}))).proxy)).ssl).toBe(true);
    expect((await sslOfSession((await proxyFor(upstream({ sslmode: 'disable' }))).proxy)).ssl).toBe(false);
  });

  it('a cancel is forwarded to a TLS upstream (57014)', async () => {
    const { proxy } = await proxyFor(
      upstream({ sslmode: 'verify-full', sslrootcert: cluster().tls?.caFile ?? '' }),
    );
    const sql = postgres(proxy.url(), { max: 1, onnotice: () => {} });
    try {
      await sql`select 1`;
      const query = sql`select pg_sleep(30)`;
      const settled = query.then(
        () => null,
        (e: postgres.PostgresError) => e,
      );
      await waitFor(
        'the sleep to run upstream',
        async () =>
          (await cluster().psql(
            "select count(*) from pg_stat_activity where query = 'select pg_sleep(30)'",
          )) === '1',
      );
      const started = Date.now();
      query.cancel();
      const err = await settled;
      expect(err?.code).toBe('57014');
      expect(Date.now() - started).toBeLessThan(5000);
      await waitFor(
        'the cancel to be counted',
        async () => (await counterValue(proxy.metrics.cancelRequests, { outcome: 'forwarded' })) === 1,
      );
      // The session is still usable.
      expect(await sql`select 2 as two`).toEqual([{ two: 2 }]);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});
