import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { loadProxyConfig } from '../../src/config/proxy-config.js';
import { parseUpstreamUrl } from '../../src/config/upstream-url.js';

describe('upstream URL', () => {
  it('parses every part and keeps the password out of every printable form', () => {
    const u = parseUpstreamUrl(
      'postgresql://svc:s%40cret@db.internal:6543/orders?sslmode=verify-full&sslrootcert=/ca.pem',
    );
    expect(u.endpoint).toMatchObject({
      host: 'db.internal',
      port: 6543,
      database: 'orders',
      user: 'svc',
      sslMode: 'verify-full',
      sslRootCert: '/ca.pem',
    });
    expect(u.password?.reveal()).toBe('s@cret');
    for (const printed of [JSON.stringify(u), String(u.password), inspect(u, { depth: 5 })]) {
      expect(printed).not.toContain('s@cret');
    }
  });

  it('defaults sslmode to verify-full off loopback and asks for a CA', () => {
    expect(() => parseUpstreamUrl('postgresql://svc:pw@db.internal/orders')).toThrow(
      /sslRootCert: sslmode=verify-full needs sslrootcert/,
    );
    expect(parseUpstreamUrl('postgresql://svc:pw@127.0.0.1/orders').endpoint.sslMode).toBe('prefer');
  });

  it('names the bad part without echoing the URL', () => {
    const attempt = () => parseUpstreamUrl('postgresql://svc:hunter2@localhost/db?sslmode=maybe');
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/sslMode/);
    expect(attempt).not.toThrow(/hunter2/);
    expect(() => parseUpstreamUrl('mysql://a@b/c')).toThrow(/scheme must be postgresql/);
    expect(() => parseUpstreamUrl('postgresql://a@b/c?sslcompression=1')).toThrow(
      /unsupported parameter "sslcompression"/,
    );
  });
});

describe('proxy config', () => {
  const upstream = 'postgresql://svc:pw@127.0.0.1:5432/app';

  it('applies defaults', () => {
    const c = loadProxyConfig({ upstream, policy: 'none' });
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 5432 });
    expect(c.adminListen).toEqual({ host: '127.0.0.1', port: 9432 });
    expect(c.maxMessageBytes).toBe(64 * 1024 ** 2);
    expect(c.maxCopyDataBytes).toBe(1024 ** 3);
    expect(c.drainTimeoutMs).toBe(30_000);
    expect(c.clientAuth.method).toBe('trust');
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('refuses trust on a non-loopback listen address', () => {
    expect(() => loadProxyConfig({ upstream, policy: 'none', listen: '0.0.0.0:5432' })).toThrow(
      /trust is only allowed on a loopback listen address/,
    );
  });

  it('reads the client password file for scram-sha-256', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pgwarden-cfg-')), 'pw');
    writeFileSync(file, 'letmein\n');
    const c = loadProxyConfig({ upstream, policy: 'none', listen: '0.0.0.0:5432', clientPasswordFile: file });
    expect(c.clientAuth.method).toBe('scram-sha-256');
    expect(c.clientAuth.password?.reveal()).toBe('letmein');
  });

  it('reports every bad field with its name', () => {
    expect(() =>
      loadProxyConfig({
        upstream,
        policy: 'none',
        maxMessageSize: 'lots',
        drainTimeout: 'soon',
        listen: 'nope',
      }),
    ).toThrow(
      /listen: "nope" is not host:port.*maxMessageSize: "lots" is not a size.*drainTimeout: "soon" is not a duration/,
    );
    expect(() => loadProxyConfig({} as never)).toThrow(/upstream: is required/);
  });

  it('turns the admin port off with "off"', () => {
    expect(loadProxyConfig({ upstream, policy: 'none', adminListen: 'off' }).adminListen).toBeNull();
  });
});
