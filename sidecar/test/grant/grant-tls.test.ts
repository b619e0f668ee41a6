import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestPki, usePostgres } from '@pgwarden/e2e';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProxy } from '../../src/proxy/server.js';
import { ClientPool, pgClient, waitFor } from '../integration/helpers.js';
import { compiled, connectError, FakeOperator, grantFor, isReady, startGrantProxy } from './support.js';

// The grant's upstream TLS: sslMode verify-full against the CA the grant
// carries as PEM text (the DatabaseConnection's), not a file on the pod.

const cluster = usePostgres({ tls: true });
const pool = new ClientPool();
const policy = compiled({
  access: 'read-write',
  rules: [{ name: 'reads', match: { kinds: ['read', 'transaction', 'session'] }, action: 'allow' }],
});
let dir: string;
let pki: TestPki;
let operator: FakeOperator | undefined;
let proxy: RunningProxy | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgwarden-grant-tls-'));
  pki = cluster().tls as TestPki;
  await writeFile(join(dir, 'token'), 'token\n');
});

afterEach(async () => {
  await pool.endAll();
  await proxy?.drain(1000);
  await operator?.close();
  proxy = undefined;
  operator = undefined;
});

async function grantedWithCa(caPem: string): Promise<RunningProxy & { url: string }> {
  const grant = grantFor(cluster(), { policy, tls: { sslMode: 'verify-full', caPem } });
  operator = await FakeOperator.start(pki, { grant });
  const started = await startGrantProxy({ operator, tokenFile: join(dir, 'token'), caFile: pki.caFile });
  proxy = started;
  await waitFor('readiness', () => isReady(started));
  return started;
}

describe('grant mode: upstream TLS from the grant', () => {
  it('verify-full with the CA the grant carries', async () => {
    const p = await grantedWithCa(pki.caPem);
    const client = pool.add(await pgClient(p.url));
    const { rows } = await client.query('select ssl from pg_stat_ssl where pid = pg_backend_pid()');
    expect(rows).toEqual([{ ssl: true }]);
  });

  it('a server certificate the grant CA did not sign is refused with 08006', async () => {
    const p = await grantedWithCa(pki.wrongCaPem);
    const error = await connectError(p.url);
    expect(error.code).toBe('08006');
    expect(error.message).toMatch(/^pgwarden: TLS to upstream 127\.0\.0\.1:\d+\/app failed: /);
  });
});
