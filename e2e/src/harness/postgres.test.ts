import { existsSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { pgBin } from './binaries.js';
import { isAlive, spawnOwner } from './owner-process.js';
import { type PostgresCluster, startPostgres } from './postgres.js';
import { run } from './process.js';
import { usePostgres } from './vitest.js';

const roles = ['scram', 'md5', 'plain'] as const;

/** The machine's psql with a conninfo string, the way a test drives it. */
function psql(conninfo: string, password: string, sql: string) {
  return run(pgBin('psql'), ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', conninfo, '-c', sql], {
    env: { PGPASSWORD: password },
  });
}

function tcp(pg: PostgresCluster, role: (typeof roles)[number], extra = 'sslmode=disable'): string {
  return `host=127.0.0.1 port=${pg.port} dbname=app user=${pg.users[role].user} ${extra}`;
}

async function postmasterPid(pg: PostgresCluster): Promise<number> {
  return Number.parseInt(await readFile(join(pg.dataDir, 'postmaster.pid'), 'utf8'), 10);
}

describe('a cluster without TLS', () => {
  const pg = usePostgres();

  it.each(roles)('lets %s log in over TCP with its password', async (role) => {
    const result = await psql(tcp(pg(), role), pg().users[role].password, 'select current_user');
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe(pg().users[role].user);
  });

  it.each(roles)('rejects %s with a wrong password', async (role) => {
    const result = await psql(tcp(pg(), role), 'wrong', 'select 1');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`password authentication failed for user "${pg().users[role].user}"`);
  });

  it('gives each role the authentication method named after it', async () => {
    const rules = await pg().psql(
      "select user_name[1], auth_method from pg_hba_file_rules where address = '127.0.0.1' order by 1",
    );
    expect(rules.split('\n')).toEqual([
      'md5_user|md5',
      'pgwarden|scram-sha-256',
      'plain_user|password',
      'scram_user|scram-sha-256',
    ]);
  });

  it('stores an MD5 verifier for md5_user and SCRAM verifiers for everyone else', async () => {
    const verifiers = await pg().psql(
      "select rolname, rolpassword like 'SCRAM-SHA-256$%', rolpassword like 'md5%' from pg_authid " +
        "where rolname in ('pgwarden', 'scram_user', 'md5_user', 'plain_user') order by 1",
    );
    expect(verifiers.split('\n')).toEqual([
      'md5_user|f|t',
      'pgwarden|t|f',
      'plain_user|t|f',
      'scram_user|t|f',
    ]);
  });

  it('lets the superuser in over TCP with its password and over the socket without one', async () => {
    const { user, password } = pg().superuser;
    const overTcp = await psql(
      `host=127.0.0.1 port=${pg().port} dbname=app user=${user} sslmode=disable`,
      password,
      'select rolsuper from pg_roles where rolname = current_user',
    );
    expect(overTcp.stdout.trim()).toBe('t');
    expect(await pg().psql('select current_user, current_database()')).toBe('pgwarden|app');
  });

  it('lets every role create tables in app.public', async () => {
    for (const role of roles) {
      const result = await psql(
        tcp(pg(), role),
        pg().users[role].password,
        `create table ${role}_table (id int); select count(*) from ${role}_table`,
      );
      expect(result.stderr).toBe('');
      expect(result.stdout.trim()).toBe('0');
    }
  });

  it('builds percent-encoded URLs psql accepts', async () => {
    const url = pg().url('md5', { sslmode: 'disable', application_name: 'a b/c&d' });
    expect(url).toMatch(
      /^postgresql:\/\/md5_user:[^@]+@127\.0\.0\.1:\d+\/app\?sslmode=disable&application_name=/,
    );
    const result = await run(pgBin('psql'), [
      '-X',
      '-A',
      '-t',
      url,
      '-c',
      "select current_setting('application_name')",
    ]);
    expect(result.stdout.trim()).toBe('a b/c&d');
  });

  it('runs psql scripts and reports their errors', async () => {
    expect(await pg().psql('select 1; select 2')).toBe('1\n2');
    await expect(pg().psql('select 1/0')).rejects.toThrow(/division by zero/);
  });

  it('listens on 127.0.0.1 only', async () => {
    expect(await pg().psql('show listen_addresses')).toBe('127.0.0.1');
    expect(pg().tls).toBeUndefined();
  });
});

describe('a cluster with TLS', () => {
  const pg = usePostgres({ tls: true, settings: { work_mem: '3MB' } });
  const sslInUse = 'select ssl from pg_stat_ssl where pid = pg_backend_pid()';

  it('passes verify-full against its CA, by name and by IP address', async () => {
    const tls = pg().tls;
    if (!tls) throw new Error('no TLS material');
    for (const host of ['localhost', '127.0.0.1']) {
      const result = await psql(
        `host=${host} port=${pg().port} dbname=app user=scram_user sslmode=verify-full sslrootcert=${tls.caFile}`,
        pg().users.scram.password,
        sslInUse,
      );
      expect(result.stderr).toBe('');
      expect(result.stdout.trim()).toBe('t');
    }
  });

  it('fails verification against the unrelated CA', async () => {
    const tls = pg().tls;
    if (!tls) throw new Error('no TLS material');
    const result = await psql(
      `host=localhost port=${pg().port} dbname=app user=scram_user sslmode=verify-full sslrootcert=${tls.wrongCaFile}`,
      pg().users.scram.password,
      'select 1',
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('certificate verify failed');
  });

  it('still accepts plaintext connections', async () => {
    const result = await psql(tcp(pg(), 'plain'), pg().users.plain.password, sslInUse);
    expect(result.stdout.trim()).toBe('f');
  });

  it('exposes PEM contents matching the files, with a private key', async () => {
    const tls = pg().tls;
    if (!tls) throw new Error('no TLS material');
    expect(tls.caPem).toBe(readFileSync(tls.caFile, 'utf8'));
    expect(tls.wrongCaPem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(tls.wrongCaPem).not.toBe(tls.caPem);
    expect(tls.certPem).toBe(readFileSync(tls.certFile, 'utf8'));
    expect(tls.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(statSync(tls.keyFile).mode & 0o777).toBe(0o600);
  });

  it('applies extra settings', async () => {
    expect(await pg().psql('show work_mem')).toBe('3MB');
  });
});

describe('cluster lifecycle', () => {
  it('kills, starts on the same port, restarts, and leaves nothing behind after stop()', async () => {
    const pg = await startPostgres();
    try {
      const { port } = pg;
      await pg.kill();
      await expect(pg.psql('select 1')).rejects.toThrow(/psql failed/);
      expect(existsSync(pg.dataDir)).toBe(true);

      await pg.start();
      expect(pg.port).toBe(port);
      expect(await pg.psql('select 1')).toBe('1');

      const beforeRestart = await postmasterPid(pg);
      await pg.restart();
      expect(await postmasterPid(pg)).not.toBe(beforeRestart);
      expect(await pg.psql('select 1')).toBe('1');

      const pid = await postmasterPid(pg);
      await pg.stop();
      expect(existsSync(pg.tempDir)).toBe(false);
      await vi.waitFor(() => expect(isAlive(pid)).toBe(false), { timeout: 5_000 });
      await expect(pg.stop()).resolves.toBeUndefined();
    } finally {
      await pg.stop();
    }
  });

  it('reports a server that cannot start with its log, and leaves nothing behind', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'pgwarden-harness-test-'));
    // The server user (postgres, when we are root) must be able to enter it.
    await chmod(parent, 0o755);
    vi.stubEnv('TMPDIR', parent);
    try {
      await expect(startPostgres({ settings: { work_mem: 'plenty' } })).rejects.toThrow(
        /pg_ctl start failed[\s\S]*invalid value for parameter "work_mem"/,
      );
      expect(await readdir(parent)).toEqual([]);
    } finally {
      vi.unstubAllEnvs();
      await rm(parent, { recursive: true, force: true });
    }
  });

  it('rejects settings the harness manages', async () => {
    await expect(startPostgres({ settings: { port: '5432' } })).rejects.toThrow(
      /port is chosen by the harness/,
    );
  });

  const ownerBody = `
    const { readFileSync } = await import('node:fs');
    const pg = await mod.startPostgres();
    const pid = Number.parseInt(readFileSync(pg.dataDir + '/postmaster.pid', 'utf8'), 10);
    console.log(JSON.stringify({ tempDir: pg.tempDir, pid }));
    if (process.argv[2] === 'exit') process.exit(0);
    setInterval(() => {}, 1000);
  `;

  it.each(['exit', 'SIGKILL'] as const)(
    'cleans up after an owner that ends by %s without stop()',
    async (ending) => {
      const {
        child: owner,
        report,
        exited,
      } = spawnOwner(new URL('./postgres.ts', import.meta.url), ownerBody, ending);
      try {
        const { tempDir, pid } = (await report) as { tempDir: string; pid: number };
        expect(existsSync(tempDir)).toBe(true);
        expect(isAlive(pid)).toBe(true);

        if (ending === 'SIGKILL') owner.kill('SIGKILL');
        await exited;
        // The exit hook runs before the process is gone; only the reaper needs waiting for.
        if (ending === 'exit') expect(existsSync(tempDir)).toBe(false);
        await vi.waitFor(
          () => {
            expect(isAlive(pid)).toBe(false);
            expect(existsSync(tempDir)).toBe(false);
          },
          { timeout: 15_000, interval: 100 },
        );
      } finally {
        owner.kill('SIGKILL');
      }
    },
  );
});
