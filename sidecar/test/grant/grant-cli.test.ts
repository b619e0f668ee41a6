import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestPki, freePort, run, type TestPki, usePostgres } from '@pgwarden/e2e';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { psql, waitFor } from '../integration/helpers.js';
import { compiled, FakeOperator, grantFor } from './support.js';

// The built CLI in grant mode, configured only through the environment the
// operator's webhook injects (PGWARDEN_GRANT_URL, _TOKEN_FILE, _GRANT_CA_FILE,
// _SPOOL_DIR, _POD_NAME, _POD_NAMESPACE), and its configuration errors.

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const cliMain = join(repoRoot, 'sidecar/dist/cli/main.js');
const TOKEN = 'projected-token-never-logged';

const cluster = usePostgres();
let pki: TestPki;
let dir: string;
let operator: FakeOperator | undefined;
let child: ChildProcess | undefined;

beforeAll(async () => {
  const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
  const build = await run(process.execPath, [tsc, '-b', 'sidecar'], { cwd: repoRoot, timeoutMs: 120_000 });
  if (build.code !== 0) throw new Error(`tsc -b sidecar failed:\n${build.stdout}${build.stderr}`);
  dir = await mkdtemp(join(tmpdir(), 'pgwarden-grant-cli-'));
  pki = await createTestPki(join(dir, 'pki'));
  await writeFile(join(dir, 'token'), TOKEN);
  await cluster().psql(
    'CREATE TABLE orders (id int); INSERT INTO orders VALUES (1), (2); GRANT SELECT, DELETE ON orders TO PUBLIC;',
  );
}, 150_000);

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  child = undefined;
  await operator?.close();
  operator = undefined;
});

/** The environment the webhook gives the sidecar container, plus loopback ports for the test. */
function injectedEnv(grantUrl: string): Record<string, string | undefined> {
  return {
    PGWARDEN_GRANT_URL: grantUrl,
    PGWARDEN_TOKEN_FILE: join(dir, 'token'),
    PGWARDEN_GRANT_CA_FILE: pki.caFile,
    PGWARDEN_SPOOL_DIR: join(dir, 'spool'),
    PGWARDEN_POD_NAME: 'agent-0',
    PGWARDEN_POD_NAMESPACE: 'agents',
    PGWARDEN_UPSTREAM: undefined,
    PGWARDEN_POLICY: undefined,
  };
}

describe('pgwarden proxy in grant mode (CLI)', () => {
  it('runs from the injected environment: ready once granted, governed, no token or password in its output', async () => {
    const policy = compiled({
      access: 'read-only',
      rules: [{ name: 'reads', match: { kinds: ['read', 'transaction', 'session'] }, action: 'allow' }],
    });
    operator = await FakeOperator.start(pki, { grant: grantFor(cluster(), { policy }) });
    const port = await freePort();
    const adminPort = await freePort();
    let out = '';
    const proc = spawn(
      process.execPath,
      [cliMain, 'proxy', '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`],
      { env: { ...process.env, ...injectedEnv(operator.url) }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    proc.stdout?.setEncoding('utf8').on('data', (s: string) => {
      out += s;
    });
    proc.stderr?.setEncoding('utf8').on('data', (s: string) => {
      out += s;
    });
    const admin = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${adminPort}${path}`).catch(() => null);
      return { status: res?.status ?? 0, body: (await res?.text()) ?? '' };
    };
    await waitFor(`readiness (output: ${out})`, async () => (await admin('/readyz')).status === 200, 20_000);

    const url = `postgresql://agent@127.0.0.1:${port}/app`;
    const r = await psql(cluster(), url, ['-At', '-c', 'select count(*) from orders']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('2');
    const write = await psql(cluster(), url, ['-c', 'delete from orders']);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toContain('pgwarden');

    const metrics = (await admin('/metrics')).body;
    expect(metrics).toMatch(/^pgwarden_grant_valid 1$/m);
    expect(metrics).toMatch(/^pgwarden_grant_expires_at_seconds [1-9]/m);
    expect(metrics).toMatch(/^pgwarden_grant_requests_total\{result="granted"\} [1-9]/m);
    expect(operator.requests[0]?.authorization).toBe(`Bearer ${TOKEN}`);
    const lines = out.split('\n').filter((l) => l.startsWith('{'));
    const listening = lines.map((l) => JSON.parse(l)).find((e) => e.msg === 'pgwarden proxy listening');
    expect(listening).toMatchObject({ mode: 'grant', pod: { namespace: 'agents', name: 'agent-0' } });
    expect(out).toContain('"msg":"grant received"');
    expect(out).not.toContain(TOKEN);
    expect(out).not.toContain(cluster().users.scram.password);
  });

  const bad: [string, string[], Record<string, string>, RegExp][] = [
    [
      'grant mode with --upstream',
      ['--upstream', 'postgresql://a@127.0.0.1/b'],
      {},
      /grant-url: in grant mode the operator's grant gives the upstream, its credential and the policy; remove --upstream \(env PGWARDEN_UPSTREAM\)/,
    ],
    [
      'an http grant URL',
      [],
      { PGWARDEN_GRANT_URL: 'http://operator:8443/v1/grants' },
      /must be an https:\/\/ URL/,
    ],
    ['no token file', [], { PGWARDEN_TOKEN_FILE: '' }, /tokenFile: must not be empty/],
    [
      'an unreadable CA file',
      [],
      { PGWARDEN_GRANT_CA_FILE: '/nonexistent/ca.crt' },
      /ca-file: cannot read \/nonexistent\/ca.crt: ENOENT/,
    ],
  ];
  for (const [name, args, env, message] of bad) {
    it(`${name}: exit 2 with a clear message`, async () => {
      const r = await run(process.execPath, [cliMain, 'proxy', ...args], {
        env: { ...injectedEnv('https://127.0.0.1:1/v1/grants'), ...env },
      });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    });
  }
});
