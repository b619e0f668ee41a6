import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { PostgresCluster } from '../harness/postgres.js';
import { run } from '../harness/process.js';
import { chownTree, serverUser } from '../harness/server-user.js';
import type { Scope } from '../processes/scope.js';
import { type Service, startService } from '../processes/service.js';

// Debian installs it outside a non-root PATH.
const fallbackPath = '/usr/sbin/pgbouncer';

/** The pgbouncer binary, installed with apt-get when missing and we are root. */
export async function locatePgbouncer(): Promise<string> {
  const found = findPgbouncer();
  if (found) return found;
  if (process.getuid?.() !== 0) {
    throw new Error(
      'pgbouncer is not installed; install the `pgbouncer` package (apt-get install pgbouncer)',
    );
  }
  process.stdout.write('pgbouncer is missing; running apt-get install -y pgbouncer…\n');
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  let install = await run('apt-get', ['install', '-y', 'pgbouncer'], { env, timeoutMs: 300_000 });
  if (install.code !== 0) {
    // A fresh container has no package lists yet.
    await run('apt-get', ['update'], { env, timeoutMs: 300_000 });
    install = await run('apt-get', ['install', '-y', 'pgbouncer'], { env, timeoutMs: 300_000 });
  }
  const installed = findPgbouncer();
  if (install.code !== 0 || !installed) {
    throw new Error(`apt-get install pgbouncer failed:\n${install.stderr.trim()}`);
  }
  return installed;
}

function findPgbouncer(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  return [...dirs.map((dir) => join(dir, 'pgbouncer')), fallbackPath].find((path) => existsSync(path));
}

export function pgbouncerVersion(binary: string): string {
  const result = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return result.stdout.split('\n')[0]?.trim() ?? 'unknown';
}

/**
 * PgBouncer in session mode in front of the cluster's `app` database. Clients log in as the
 * cluster superuser without a password (trust); PgBouncer authenticates upstream with the real one.
 */
export async function startPgbouncer(
  scope: Scope,
  binary: string,
  cluster: PostgresCluster,
): Promise<Service> {
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-bench-pgbouncer-'));
  scope.defer(
    'pgbouncer temp dir',
    () => rm(dir, { recursive: true, force: true }),
    () => rmSync(dir, { recursive: true, force: true }),
  );
  // PgBouncer refuses to run as root; the harness's server user is there whenever we are root.
  const user = serverUser();
  const { user: login, password } = cluster.superuser;
  const authFile = join(dir, 'userlist.txt');
  await writeFile(authFile, `"${login}" ""\n`);
  return startService(scope, 'pgbouncer', async (port) => {
    const configFile = join(dir, 'pgbouncer.ini');
    await writeFile(
      configFile,
      [
        '[databases]',
        `app = host=127.0.0.1 port=${cluster.port} dbname=app user=${login} password=${password}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'unix_socket_dir =',
        'auth_type = trust',
        `auth_file = ${authFile}`,
        'pool_mode = session',
        'max_client_conn = 200',
        'default_pool_size = 50',
        'server_tls_sslmode = disable',
        'log_connections = 0',
        'log_disconnections = 0',
        'ignore_startup_parameters = extra_float_digits',
        '',
      ].join('\n'),
    );
    await chmod(configFile, 0o600);
    if (user) await chownTree(dir, user);
    return {
      cmd: binary,
      args: [configFile],
      cwd: dir,
      uid: user?.uid,
      gid: user?.gid,
      stopSignal: 'SIGTERM',
    };
  });
}
