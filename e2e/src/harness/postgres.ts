import { randomBytes } from 'node:crypto';
import { appendFile, chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pgBinDir } from './binaries.js';
import { type Guard, guard } from './cleanup.js';
import {
  bootstrapSql,
  databaseName,
  renderHba,
  renderSettings,
  superuserName,
  type TestRole,
  testRoles,
} from './cluster-config.js';
import { freePort } from './port.js';
import { type RunResult, run } from './process.js';
import { chownTree, type ServerUser, serverUser } from './server-user.js';
import { createTestPki, type TestPki } from './tls.js';

export type Role = 'superuser' | TestRole;

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

export interface StartOptions {
  /** Serve TLS with a freshly generated PKI; plaintext connections stay allowed. */
  tls?: boolean;
  /** Extra postgresql.conf settings, applied over the harness defaults. */
  settings?: Record<string, string>;
}

export interface PsqlOptions {
  /** Default `app`. */
  database?: string;
  timeoutMs?: number;
}

/** A running throwaway PostgreSQL cluster; see {@link startPostgres}. */
export interface PostgresCluster {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly database: 'app';
  readonly superuser: Credentials;
  /** One login role per password method: scram-sha-256, md5 (MD5 verifier), password (cleartext). */
  readonly users: Readonly<Record<TestRole, Credentials>>;
  /** The temp directory holding everything below; gone after stop(). */
  readonly tempDir: string;
  readonly dataDir: string;
  /** Unix socket directory; the superuser connects here without a password. */
  readonly socketDir: string;
  /** The server log. */
  readonly logFile: string;
  readonly binDir: string;
  /** Present when started with `tls: true`. */
  readonly tls?: TestPki;
  /** `postgresql://user:password@127.0.0.1:port/app?params`, every part percent-encoded. */
  url(role?: Role, params?: Record<string, string>): string;
  /** Runs SQL (psql meta-commands allowed) as the superuser; returns the unaligned, tuples-only output. */
  psql(sql: string, options?: PsqlOptions): Promise<string>;
  /** Stops the server (fast shutdown) and deletes the temp directory; safe to call repeatedly. */
  stop(): Promise<void>;
  /** Crashes the server (immediate shutdown: no checkpoint, crash recovery on the next start); keeps the data. */
  kill(): Promise<void>;
  /** Starts the server again on the same port, e.g. after kill(). */
  start(): Promise<void>;
  /** Fast shutdown, then start. */
  restart(): Promise<void>;
  binPath(name: string): string;
}

// Settings the cluster object reports to its users, so they cannot be overridden.
const managedSettings = new Set(['port', 'listen_addresses', 'unix_socket_directories']);

const portAttempts = 5;
// pg_ctl -w gives up after 60 s by itself; this only catches a wedged pg_ctl.
const pgCtlTimeoutMs = 120_000;

/**
 * initdb + start a cluster in a fresh temp dir, listening on 127.0.0.1 at a free port, with a
 * superuser `pgwarden`, the roles in `users`, and database `app`. Nothing outlives the process:
 * see cleanup.ts.
 */
export async function startPostgres(options: StartOptions = {}): Promise<PostgresCluster> {
  for (const name of Object.keys(options.settings ?? {})) {
    if (managedSettings.has(name)) throw new Error(`startPostgres: setting ${name} is chosen by the harness`);
  }
  const cluster = new Cluster(pgBinDir(), serverUser(), await mkdtemp(join(tmpdir(), 'pgwarden-pg-')));
  try {
    await cluster.init(options);
  } catch (error) {
    // The startup error is the one worth reporting; whatever stop() cannot
    // remove is still covered by the exit hook and the reaper.
    await cluster.stop().catch(() => undefined);
    throw error;
  }
  return cluster;
}

class Cluster implements PostgresCluster {
  readonly host = '127.0.0.1';
  readonly database = databaseName;
  readonly superuser: Credentials;
  readonly users: Readonly<Record<TestRole, Credentials>>;
  readonly binDir: string;
  readonly tempDir: string;
  readonly dataDir: string;
  readonly socketDir: string;
  readonly logFile: string;
  readonly #serverUser: ServerUser | undefined;
  readonly #guard: Guard;
  #port = 0;
  #tls: TestPki | undefined;
  #stopping: Promise<void> | undefined;

  constructor(binDir: string, serverUser: ServerUser | undefined, tempDir: string) {
    this.binDir = binDir;
    this.tempDir = tempDir;
    this.#serverUser = serverUser;
    this.dataDir = join(tempDir, 'data');
    this.socketDir = join(tempDir, 'socket');
    this.logFile = join(tempDir, 'postgres.log');
    this.superuser = { user: superuserName, password: newPassword() };
    this.users = {
      scram: { user: testRoles.scram.user, password: newPassword() },
      md5: { user: testRoles.md5.user, password: newPassword() },
      plain: { user: testRoles.plain.user, password: newPassword() },
    };
    this.#guard = guard({
      pgCtl: this.binPath('pg_ctl'),
      dataDir: this.dataDir,
      rootDir: tempDir,
      user: serverUser,
    });
  }

  get port(): number {
    return this.#port;
  }

  get tls(): TestPki | undefined {
    return this.#tls;
  }

  async init(options: StartOptions): Promise<void> {
    await mkdir(this.socketDir, { mode: 0o700 });
    if (options.tls) this.#tls = await createTestPki(join(this.tempDir, 'tls'));
    if (this.#serverUser) await chownTree(this.tempDir, this.#serverUser);

    const initdb = await this.#runAsServer(this.binPath('initdb'), [
      ...['-D', this.dataDir, '-U', superuserName, '--auth=trust'],
      // C locale keeps server messages in English, which #startOnFreePort greps.
      ...['--encoding=UTF8', '--locale=C', '--no-sync'],
    ]);
    if (initdb.code !== 0) throw failure('initdb', initdb);

    await this.#writeServerFile('pg_hba.conf', renderHba());
    await appendFile(join(this.dataDir, 'postgresql.conf'), "\ninclude 'pgwarden.conf'\n");
    await this.#startOnFreePort(options);
    await this.psql(bootstrapSql(this.superuser.password, this.users), { database: 'postgres' });
  }

  url(role: Role = 'superuser', params: Record<string, string> = {}): string {
    const { user, password } = role === 'superuser' ? this.superuser : this.users[role];
    const enc = encodeURIComponent;
    const query = Object.entries(params)
      .map(([key, value]) => `${enc(key)}=${enc(value)}`)
      .join('&');
    const base = `postgresql://${enc(user)}:${enc(password)}@${this.host}:${this.port}/${this.database}`;
    return query ? `${base}?${query}` : base;
  }

  async psql(sql: string, { database = this.database, timeoutMs }: PsqlOptions = {}): Promise<string> {
    const result = await run(
      this.binPath('psql'),
      [
        ...['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1'],
        ...['-h', this.socketDir, '-p', String(this.port), '-U', superuserName, '-d', database, '-f', '-'],
      ],
      { input: sql, env: withoutLibpqEnv(), timeoutMs },
    );
    if (result.code !== 0) throw failure('psql', result);
    return result.stdout.replace(/\n$/, '');
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#teardown();
    return this.#stopping;
  }

  kill(): Promise<void> {
    return this.#stopServer('immediate');
  }

  async start(): Promise<void> {
    const result = await this.#pgCtl('start', '-w', '-l', this.logFile);
    if (result.code !== 0) throw failure('pg_ctl start', result, await this.#logTail(0));
  }

  async restart(): Promise<void> {
    await this.#stopServer('fast');
    await this.start();
  }

  binPath(name: string): string {
    return join(this.binDir, name);
  }

  async #teardown(): Promise<void> {
    // Fast is the clean shutdown (checkpoint, sessions told why); when it fails
    // or times out, immediate still keeps a server from outliving its files.
    await this.#stopServer('fast').catch(() => this.#stopServer('immediate'));
    await rm(this.tempDir, { recursive: true, force: true });
    this.#guard.release();
  }

  // Another process can bind the port between freePort() and the postmaster's
  // bind(); only then is a new port worth trying.
  async #startOnFreePort(options: StartOptions): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.#port = await freePort();
      await this.#writeServerFile('pgwarden.conf', this.#settings(options));
      const logOffset = await sizeOf(this.logFile);
      const result = await this.#pgCtl('start', '-w', '-l', this.logFile);
      if (result.code === 0) return;
      const log = await this.#logTail(logOffset);
      if (attempt < portAttempts && log.includes('Address already in use')) continue;
      throw failure('pg_ctl start', result, log);
    }
  }

  #settings(options: StartOptions): string {
    const tls = this.#tls;
    return renderSettings({
      fsync: 'off',
      max_connections: '100',
      password_encryption: 'scram-sha-256',
      log_line_prefix: '%m [%p] %q%u@%d ',
      ...(tls && { ssl: 'on', ssl_cert_file: tls.certFile, ssl_key_file: tls.keyFile }),
      ...options.settings,
      listen_addresses: this.host,
      port: String(this.#port),
      unix_socket_directories: this.socketDir,
    });
  }

  async #stopServer(mode: 'fast' | 'immediate'): Promise<void> {
    const result = await this.#pgCtl('stop', '-w', '-m', mode);
    // pg_ctl status exits 3 when no server runs and 4 when there is no cluster
    // (initdb never finished): stopping either is fine.
    if (result.code !== 0 && ![3, 4].includes((await this.#pgCtl('status')).code ?? 0)) {
      throw failure(`pg_ctl stop -m ${mode}`, result);
    }
  }

  #pgCtl(...args: string[]): Promise<RunResult> {
    return this.#runAsServer(this.binPath('pg_ctl'), [...args, '-D', this.dataDir]);
  }

  #runAsServer(cmd: string, args: string[]): Promise<RunResult> {
    return run(cmd, args, {
      uid: this.#serverUser?.uid,
      gid: this.#serverUser?.gid,
      // The server user may not be allowed into our working directory.
      cwd: this.tempDir,
      timeoutMs: pgCtlTimeoutMs,
    });
  }

  async #writeServerFile(name: string, content: string): Promise<void> {
    const path = join(this.dataDir, name);
    await writeFile(path, content, { mode: 0o600 });
    if (this.#serverUser) await chown(path, this.#serverUser.uid, this.#serverUser.gid);
  }

  async #logTail(fromByte: number): Promise<string> {
    const log = await readFile(this.logFile).catch(() => Buffer.alloc(0));
    return log.subarray(fromByte).toString('utf8').split('\n').slice(-30).join('\n');
  }
}

// base64url: nothing a URL, a conninfo string or a shell needs escaped.
function newPassword(): string {
  return randomBytes(18).toString('base64url');
}

// The harness's psql must reach this cluster and nothing else; inherited
// PGSERVICE, PGOPTIONS, PGSSLMODE… would redirect or reconfigure it.
function withoutLibpqEnv(): Record<string, undefined> {
  return Object.fromEntries(
    Object.keys(process.env)
      .filter((name) => name.startsWith('PG'))
      .map((name) => [name, undefined]),
  );
}

async function sizeOf(path: string): Promise<number> {
  return (await stat(path).catch(() => undefined))?.size ?? 0;
}

function failure(what: string, result: RunResult, log?: string): Error {
  const status = result.code ?? result.signal;
  const details = [result.stderr.trim(), log && `server log:\n${log}`].filter(Boolean).join('\n');
  return new Error(`${what} failed (${status})${details ? `:\n${details}` : ''}`);
}
