import { type ChildProcess, spawn } from 'node:child_process';
import { freePort, run, usePostgres } from '@pgwarden/e2e';
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { envName, PROXY_OPTIONS } from '../../src/cli/proxy-command.js';
import { CLI_MAIN, REPO_ROOT, useBuiltCli } from '../support/cli.js';
import { ClientPool, waitFor, within } from './helpers.js';

// The real CLI as a child process: flags and environment, the admin endpoints,
// and SIGTERM draining.

useBuiltCli();

const cluster = usePostgres();
const pool = new ClientPool();

interface Cli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  port: number;
  adminPort: number;
}
const children: Cli[] = [];
afterEach(async () => {
  await pool.endAll();
  for (const c of children.splice(0)) {
    if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await c.exited;
  }
});

/** Starts `pgwarden proxy` on free ports and waits until it listens. */
async function startCli(args: string[] = [], env: Record<string, string> = {}): Promise<Cli> {
  const port = await freePort();
  const adminPort = await freePort();
  const child = spawn(
    process.execPath,
    [
      CLI_MAIN,
      'proxy',
      ...['--policy', 'none', '--listen', `127.0.0.1:${port}`, '--admin-listen', `127.0.0.1:${adminPort}`],
      ...args,
    ],
    { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    err += s;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const cli: Cli = { child, stdout: () => out, stderr: () => err, exited, port, adminPort };
  children.push(cli);
  await waitFor(
    `the proxy to listen (stdout: ${out}; stderr: ${err})`,
    () => out.includes('"msg":"pgwarden proxy listening"') || child.exitCode !== null,
    15_000,
  );
  if (child.exitCode !== null) throw new Error(`pgwarden exited ${child.exitCode}: ${err}`);
  return cli;
}

const admin = async (cli: Cli, path: string) => {
  const res = await fetch(`http://127.0.0.1:${cli.adminPort}${path}`);
  return { status: res.status, body: await res.text() };
};
const proxiedUrl = (cli: Cli) => `postgresql://agent@127.0.0.1:${cli.port}/app`;

/** JSON log events from a process's stdout. */
function events(cli: Cli): Record<string, unknown>[] {
  return cli
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('pgwarden proxy CLI', () => {
  it('--help lists every option with its environment variable', async () => {
    const r = await run(process.execPath, [CLI_MAIN, 'proxy', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: pgwarden proxy --upstream URL/);
    expect(PROXY_OPTIONS.length).toBeGreaterThanOrEqual(11);
    for (const o of PROXY_OPTIONS) {
      expect(r.stdout).toContain(`--${o.flag} ${o.value}`);
      expect(r.stdout).toContain(`env: ${envName(o)}`);
    }
    expect(r.stdout).toContain('SIGTERM');
    const top = await run(process.execPath, [CLI_MAIN, '--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('proxy      Run the Postgres proxy');
  });

  const bad: [string, string[], RegExp][] = [
    ['an unknown flag', ['--bogus', 'x'], /pgwarden: Unknown option '--bogus'/],
    ['a missing --upstream', [], /pgwarden: upstream: is required/],
    [
      'a bad --listen',
      ['--upstream', 'postgresql://u@127.0.0.1/db', '--listen', 'nonsense'],
      /listen: "nonsense" is not host:port/,
    ],
    [
      'a bad size',
      ['--upstream', 'postgresql://u@127.0.0.1/db', '--max-message-size', '12XB'],
      /maxMessageSize: "12XB" is not a size/,
    ],
    [
      'a bad duration',
      ['--upstream', 'postgresql://u@127.0.0.1/db', '--drain-timeout', 'soon'],
      /drainTimeout: "soon" is not a duration/,
    ],
    [
      'a non-postgres URL',
      ['--upstream', 'mysql://u@127.0.0.1/db'],
      /upstream: scheme must be postgresql:\/\//,
    ],
    [
      'trust off loopback',
      ['--upstream', 'postgresql://u@127.0.0.1/db', '--listen', '0.0.0.0:6432'],
      /trust is only allowed on a loopback/,
    ],
    ['a positional argument', ['extra'], /pgwarden: Unexpected argument 'extra'/],
  ];
  for (const [name, args, message] of bad) {
    it(`${name}: exit 2 with a clear message`, async () => {
      const r = await run(process.execPath, [CLI_MAIN, 'proxy', ...args], {
        env: { PGWARDEN_UPSTREAM: undefined, PGWARDEN_POLICY: 'none' },
      });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
      expect(r.stdout).toBe('');
    });
  }

  it('a bad upstream URL is reported without echoing its password', async () => {
    const r = await run(process.execPath, [
      CLI_MAIN,
      'proxy',
      ...['--policy', 'none'],
      '--upstream',
      'postgresql://u:Sup3rS3cretPW@127.0.0.1/db?sslcert=x',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('upstream: unsupported parameter "sslcert"');
    expect(r.stderr + r.stdout).not.toContain('Sup3rS3cretPW');
  });

  it('an unknown command exits 2 with the usage', async () => {
    const r = await run(process.execPath, [CLI_MAIN, 'frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('pgwarden: unknown command "frobnicate"');
    expect(r.stderr).toContain('Usage: pgwarden <command>');
  });

  it('serves /healthz, /readyz and /metrics; options come from the environment, flags win', async () => {
    // The upstream from the environment only; a bogus PGWARDEN_LISTEN loses to --listen.
    const cli = await startCli(['--log-level', 'debug'], {
      PGWARDEN_UPSTREAM: cluster().url(),
      PGWARDEN_LISTEN: 'not-an-address',
    });
    expect(await admin(cli, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
    expect(await admin(cli, '/readyz')).toEqual({ status: 200, body: 'ready\n' });
    expect((await admin(cli, '/nope')).status).toBe(404);

    const client = await pool.pg(proxiedUrl(cli), { application_name: 'lifecycle' });
    expect((await client.query('select 1 + 1 as two')).rows).toEqual([{ two: 2 }]);

    const metrics = await admin(cli, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^pgwarden_client_connections 1$/m);
    expect(metrics.body).toMatch(/^pgwarden_proxy_overhead_seconds_count [1-9]\d*$/m);
    expect(metrics.body).toMatch(/^pgwarden_client_messages_total\{type="Q"\} [1-9]/m);
    expect(metrics.body).toMatch(/^pgwarden_upstream_received_bytes_total [1-9]/m);
    expect(metrics.body).toContain('# TYPE pgwarden_proxy_overhead_seconds histogram');

    const started = events(cli).find((e) => e.msg === 'session started');
    expect(started).toMatchObject({
      level: 'info',
      service: 'pgwarden-sidecar',
      clientUser: 'agent',
      application: 'lifecycle',
    });
  });

  it('SIGTERM drains: in-flight work finishes, idle sessions get 57P01, readyz turns 503, exit 0', async () => {
    const cli = await startCli([
      '--upstream',
      cluster().url(),
      '--drain-timeout',
      '10s',
      '--log-level',
      'trace',
    ]);
    const idle = await pool.pg(proxiedUrl(cli));
    const idleError = new Promise<pg.DatabaseError>((resolve) =>
      idle.on('error', (e) => resolve(e as pg.DatabaseError)),
    );
    const busy = await pool.pg(proxiedUrl(cli));
    const busyError = new Promise<pg.DatabaseError>((resolve) =>
      busy.on('error', (e) => resolve(e as pg.DatabaseError)),
    );
    const inFlight = busy.query("select pg_sleep(2), 'finished' as outcome");
    await waitFor(
      'the sleep to run upstream',
      async () =>
        (await cluster().psql(
          "select count(*) from pg_stat_activity where query like 'select pg_sleep(2)%'",
        )) === '1',
    );

    const signalled = Date.now();
    cli.child.kill('SIGTERM');

    // The idle session is closed at once with 57P01.
    const closed = await within(3000, 'the idle session to be closed', idleError);
    expect(closed.code).toBe('57P01');
    expect(closed.message).toBe('pgwarden: the sidecar is shutting down');
    // Not ready while draining (the admin port stays up until the drain ends).
    expect(await admin(cli, '/readyz')).toEqual({ status: 503, body: 'not ready\n' });
    expect((await admin(cli, '/healthz')).status).toBe(200);
    // No new sessions.
    await expect(pool.pg(proxiedUrl(cli))).rejects.toThrow();

    // The in-flight query completes normally; then its session is closed too.
    const r = await inFlight;
    expect(r.rows).toEqual([{ pg_sleep: '', outcome: 'finished' }]);
    expect((await within(3000, 'the busy session to be closed', busyError)).code).toBe('57P01');

    const exit = await within(5000, 'the process to exit', cli.exited);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(6000);
    const messages = events(cli).map((e) => e.msg);
    expect(messages).toEqual(
      expect.arrayContaining([
        'shutdown requested',
        'draining: no new connections, closing sessions as they become idle',
        'drained',
      ]),
    );
    expect(messages).not.toContain('drain deadline reached: closing remaining sessions');
    expect(cli.stderr()).toBe('');
  });

  it('at the drain deadline, a session still in a transaction is closed (57P01) and rolled back', async () => {
    await cluster().psql('create table if not exists drained (x int); grant all on drained to public;');
    const cli = await startCli(['--upstream', cluster().url(), '--drain-timeout', '1s']);
    const inTx = await pool.pg(proxiedUrl(cli));
    const error = new Promise<pg.DatabaseError>((resolve) =>
      inTx.on('error', (e) => resolve(e as pg.DatabaseError)),
    );
    await inTx.query('begin');
    await inTx.query('insert into drained values (1)');

    const signalled = Date.now();
    cli.child.kill('SIGTERM');
    const err = await within(5000, 'the session to be closed at the deadline', error);
    const waited = Date.now() - signalled;
    expect(err.code).toBe('57P01');
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(await within(5000, 'the process to exit', cli.exited)).toEqual({ code: 0, signal: null });
    expect(events(cli).map((e) => e.msg)).toContain('drain deadline reached: closing remaining sessions');
    await waitFor(
      'the upstream session to end',
      async () =>
        (await cluster().psql(
          "select count(*) from pg_stat_activity where state = 'idle in transaction'",
        )) === '0',
    );
    expect(await cluster().psql('select count(*) from drained')).toBe('0');
  });

  it('never prints the upstream password, even at trace level and on failures', async () => {
    const password = cluster().superuser.password;
    const good = await startCli(['--upstream', cluster().url(), '--log-level', 'trace']);
    const client = await pool.pg(proxiedUrl(good));
    await client.query('select 1');
    await client.query('select 1/0').catch(() => undefined);
    await client.end();

    const wrongPassword = 'Wr0ngPassw0rd-lifecycle';
    const badUrl = new URL(cluster().url());
    badUrl.password = wrongPassword;
    const bad = await startCli(['--upstream', badUrl.toString(), '--log-level', 'trace']);
    await expect(pool.pg(proxiedUrl(bad))).rejects.toMatchObject({ code: '28P01' });

    for (const cli of [good, bad]) {
      cli.child.kill('SIGTERM');
      expect((await within(5000, 'exit', cli.exited)).code).toBe(0);
      const output = cli.stdout() + cli.stderr();
      expect(output).toContain('"msg":"drained"');
      expect(output).not.toContain(password);
      expect(output).not.toContain(wrongPassword);
    }
    expect(events(bad).some((e) => e.msg === 'connection refused' && e.sqlstate === '28P01')).toBe(true);
  });
});
