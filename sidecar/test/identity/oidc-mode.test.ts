import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, run, usePostgres } from '@pgwarden/e2e';
import pg from 'pg';
import type { Counter } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { counterValue, LogCapture, libpqEnv, psql } from '../integration/helpers.js';
import { sealedRecording } from '../record/proxy-support.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import { signingKey, startIssuer, type TestIssuer } from './oidc-issuer.js';

// Standalone OIDC mode end to end: a real OpenID Provider (oidc-provider)
// issues tokens to "CI jobs", psql and node-postgres send them as their
// password to the proxy (in this process), and each session runs under the
// policy its claims map to, against a real PostgreSQL.

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

const jobs = {
  'main-job': { repository: 'acme/shop', ref: 'refs/heads/main' },
  'pr-job': { repository: 'acme/shop', ref: 'refs/pull/7/merge' },
  'fork-job': { repository: 'evil/shop', ref: 'refs/heads/main' },
};

const policy = (name: string, access: string, kinds: string[], extra = '') => `
apiVersion: pgwarden.io/v1alpha1
kind: AgentAccessPolicy
metadata: { name: ${name}, namespace: ci }
spec:
  subjects: { serviceAccounts: [ci] }
  connection: shop
  access: ${access}
  rules:
    - { name: allowed-kinds, match: { kinds: [${kinds.join(', ')}] }, action: allow }
${extra}`;

describe('standalone OIDC mode', () => {
  const cluster = usePostgres();
  const logs = new LogCapture();
  const key = signingKey();
  let issuer: TestIssuer;
  let proxy: TestProxy;
  let dir: string;

  /** The SQLSTATE and message a connection with this password gets, or 'ok' and the rows of `sql`. */
  const attempt = async (password: string, sql = 'SELECT 1 AS one', port = proxy.port) => {
    const client = new pg.Client({
      host: '127.0.0.1',
      port,
      user: 'ci',
      database: 'app',
      password,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      const { rows } = await client.query(sql);
      return { code: 'ok', message: '', rows };
    } catch (error) {
      const { code, message } = error as { code?: string; message: string };
      return { code: code ?? 'none', message, rows: [] };
    } finally {
      await client.end().catch(() => undefined);
    }
  };

  /** pgwarden_oidc_tokens_total for one result, from the proxy's registry. */
  const tokensCounted = async (result: string) => {
    const counter = proxy.metrics.registry.getSingleMetric('pgwarden_oidc_tokens_total') as Counter<'result'>;
    return counterValue(counter, { result });
  };

  beforeAll(async () => {
    // The CLI test runs the built sidecar: (re)build, incremental and quick when up to date.
    const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
    const build = await run(process.execPath, [tsc, '-b', 'sidecar'], { cwd: repoRoot, timeoutMs: 150_000 });
    if (build.code !== 0 && build.stdout.includes('sidecar/'))
      throw new Error(`tsc -b sidecar failed:\n${build.stdout}`);
  }, 160_000);
  beforeAll(async () => {
    issuer = await startIssuer(jobs, key);
    dir = await mkdtemp(join(tmpdir(), 'pgwarden-oidc-'));
    await writeFile(
      join(dir, 'deployer.yaml'),
      policy('deployer', 'read-write', ['read', 'write', 'transaction']),
    );
    // The reviewers' sessions are recorded; the deployers' are not.
    const recording = `  recording: { flushInterval: 50ms, sink: { type: dir, path: ${join(dir, 'recordings')} } }\n`;
    await writeFile(
      join(dir, 'reviewer.yaml'),
      policy('reviewer', 'read-only', ['read', 'transaction'], recording),
    );
    await writeFile(
      join(dir, 'oidc.yaml'),
      JSON.stringify({
        issuer: issuer.issuer,
        audience: 'pgwarden',
        clockTolerance: '1s',
        rules: [
          { name: 'main', claims: jobs['main-job'], policy: 'deployer.yaml' },
          { name: 'same-repo', claims: { repository: 'acme/shop' }, policy: 'reviewer.yaml' },
        ],
      }),
    );
    await cluster().psql('CREATE TABLE orders (id int); INSERT INTO orders VALUES (1), (2);');
    proxy = await startTestProxy(cluster(), {
      policy: undefined,
      oidcConfig: join(dir, 'oidc.yaml'),
      spoolDir: join(dir, 'spool'),
      logLevel: 'info',
      logDestination: logs,
    });
  });
  afterAll(async () => {
    await proxy?.drain(1000);
    await issuer?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('governs a session by the policy its token’s claims map to (node-postgres and psql)', async () => {
    const main = await issuer.token('main-job');
    expect(await attempt(main, 'INSERT INTO orders VALUES (3) RETURNING id')).toMatchObject({
      code: 'ok',
      rows: [{ id: 3 }],
    });

    const pr = await issuer.token('pr-job');
    const url = `postgresql://ci@127.0.0.1:${proxy.port}/app`;
    // Without a password psql cannot answer the proxy's cleartext password request.
    const bare = await psql(cluster(), url, ['-w', '-tA', '-c', 'SELECT 1']);
    expect(bare.code).not.toBe(0);
    expect(bare.stderr).toContain('no password supplied');
    const withToken = (args: string[]) =>
      run(cluster().binPath('psql'), ['-X', '-v', 'ON_ERROR_STOP=1', '-d', url, ...args], {
        env: libpqEnv({ PGPASSWORD: pr }),
      });
    const counted = await withToken(['-tA', '-c', 'SELECT count(*) FROM orders']);
    expect(counted).toMatchObject({ code: 0, stdout: '3\n' });
    const write = await withToken(['-c', 'DELETE FROM orders']);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toMatch(/ERROR: .*read-only/);

    expect(await tokensCounted('accepted')).toBe(3);
    const accepted = logs.events.filter((e) => e.msg === 'OIDC token accepted');
    expect(accepted.map((e) => [e.rule, e.policy])).toEqual([
      ['main', 'deployer'],
      ['same-repo', 'reviewer'],
      ['same-repo', 'reviewer'],
    ]);
    expect(logs.text).not.toContain(main);
    expect(logs.text).not.toContain(pr);
  });

  it('records the sessions of a rule whose policy records, under that policy', async () => {
    const token = await issuer.token('pr-job');
    const client = new pg.Client({
      host: '127.0.0.1',
      port: proxy.port,
      user: 'ci',
      database: 'app',
      password: token,
      application_name: 'oidc-recorded',
    });
    await client.connect();
    await client.query('SELECT count(*) FROM orders');
    await client.end();
    const recorded = await sealedRecording(join(dir, 'recordings'), 'oidc-recorded');
    const start = recorded.events[0];
    expect(start?.type === 'session-start' && start.policy.name).toBe('reviewer');
    expect(
      recorded.events.some((e) => e.type === 'statement' && e.text === 'SELECT count(*) FROM orders'),
    ).toBe(true);
    expect(recorded.text.includes(token)).toBe(false);
  });

  it('runs as `pgwarden proxy --upstream URL --oidc-config FILE` (the built CLI)', async () => {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        join(repoRoot, 'sidecar/dist/cli/main.js'),
        ...['proxy', '--upstream', cluster().url('superuser'), '--oidc-config', join(dir, 'oidc.yaml')],
        ...['--listen', `127.0.0.1:${port}`, '--admin-listen', 'off', '--spool-dir', join(dir, 'cli-spool')],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const collect = (chunk: string) => {
      output += chunk;
    };
    child.stdout.setEncoding('utf8').on('data', collect);
    child.stderr.setEncoding('utf8').on('data', collect);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await vi.waitFor(
        () => {
          if (child.exitCode !== null) throw new Error(`pgwarden exited ${child.exitCode}: ${output}`);
          expect(output).toContain('"msg":"pgwarden proxy listening"');
        },
        { timeout: 30_000, interval: 100 },
      );
      expect(output).toContain('"mode":"oidc"');
      const main = await attempt(await issuer.token('main-job'), 'SELECT current_user AS who', port);
      expect(main).toMatchObject({ code: 'ok', rows: [{ who: 'pgwarden' }] });
      expect(await attempt(await issuer.token('fork-job'), 'SELECT 1', port)).toMatchObject({
        code: '28000',
      });
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('refuses a token no rule admits, naming the claims it checked', async () => {
    const before = await tokensCounted('unmatched');
    const result = await attempt(await issuer.token('fork-job'));
    expect(await tokensCounted('unmatched')).toBe(before + 1);
    expect(result.code).toBe('28000');
    expect(result.message).toBe(
      `pgwarden: OIDC token refused: no rule admits this token; the rules check repository, ref and the token has repository="evil/shop", ref="refs/heads/main" (config ${join(dir, 'oidc.yaml')})`,
    );
  });

  it('refuses a token for another audience, an expired one, and a password that is no token', async () => {
    const other = await attempt(await issuer.token('main-job', 'other'));
    expect(other).toMatchObject({
      code: '28000',
      message: 'pgwarden: OIDC token refused: the token is not for audience pgwarden',
    });

    const short = await issuer.token('main-job', 'shortLived');
    expect((await attempt(short)).code).toBe('ok');
    const started = Date.now();
    const expired = await vi.waitFor(
      async () => {
        const result = await attempt(short);
        expect(result.code).toBe('28000');
        return result;
      },
      { timeout: 20_000, interval: 250 },
    );
    process.stdout.write(
      `2 s token refused ${Date.now() - started} ms after its first use (clock tolerance 1 s)\n`,
    );
    expect(expired.message).toBe('pgwarden: OIDC token refused: the token has expired; get a new one');

    expect(await attempt('not-a-token')).toMatchObject({
      code: '28000',
      message: 'pgwarden: OIDC token refused: the password is not a valid OIDC token (ERR_JWS_INVALID)',
    });
  });

  it('refuses tokens of another issuer, with the same signing key or another', async () => {
    const refusedBefore = await tokensCounted('refused');
    const sameKey = await startIssuer(jobs, key);
    const otherKey = await startIssuer(jobs);
    try {
      expect(await attempt(await sameKey.token('main-job'))).toMatchObject({
        code: '28000',
        message: `pgwarden: OIDC token refused: the token was not issued by ${issuer.issuer}`,
      });
      expect(await attempt(await otherKey.token('main-job'))).toMatchObject({
        code: '28000',
        message: `pgwarden: OIDC token refused: the token's signature does not verify with the keys of ${issuer.issuer}`,
      });
      expect(await tokensCounted('refused')).toBe(refusedBefore + 2);
    } finally {
      await sameKey.close();
      await otherKey.close();
    }
  });
});
