import { run, usePostgres } from '@pgwarden/e2e';
import { beforeAll, describe, expect, it } from 'vitest';
import { useProxy } from '../support/proxy.js';
import { libpqEnv } from './helpers.js';

// pgbench drives the three query modes (simple, extended, prepared) hard and
// concurrently; through the proxy every transaction must succeed.

const cluster = usePostgres();
const proxy = useProxy(cluster);

function pgbench(args: string[], port: number, password?: string) {
  return run(
    cluster().binPath('pgbench'),
    [...['-h', '127.0.0.1', '-p', String(port), '-U', cluster().superuser.user], ...args, 'app'],
    { env: libpqEnv(password ? { PGPASSWORD: password } : {}), timeoutMs: 60_000 },
  );
}

/** The figures pgbench prints at the end of a run. */
function summary(stdout: string) {
  const processed = /number of transactions actually processed: (\d+)\/(\d+)/.exec(stdout);
  const failed = /number of failed transactions: (\d+)/.exec(stdout);
  const mode = /query mode: (\w+)/.exec(stdout);
  return {
    processed: processed ? Number(processed[1]) : null,
    planned: processed ? Number(processed[2]) : null,
    failed: failed ? Number(failed[1]) : null,
    mode: mode?.[1] ?? null,
  };
}

beforeAll(async () => {
  // Initialized directly, over TCP with the superuser's password, so only the runs go through the proxy.
  const init = await pgbench(['-i', '-s', '1', '-q'], cluster().port, cluster().superuser.password);
  expect(init.code, init.stderr).toBe(0);
  expect(await cluster().psql('select count(*) from pgbench_accounts')).toBe('100000');
});

describe('pgbench through the proxy', () => {
  for (const mode of ['simple', 'extended', 'prepared'] as const) {
    it(`select-only in ${mode} mode: every transaction succeeds`, async () => {
      const rfqBefore = proxy().metrics.fromUpstream.messages[0x5a] ?? 0; // 'Z'
      const r = await pgbench(['-S', '-t', '200', '-c', '2', '-M', mode, '-n'], proxy().port);
      expect(r.code, r.stderr).toBe(0);
      expect(summary(r.stdout)).toEqual({ processed: 400, planned: 400, failed: 0, mode });
      expect(r.stderr).not.toMatch(/error|abort/i);
      // Every transaction really crossed the proxy: one ReadyForQuery per statement (plus startup).
      expect((proxy().metrics.fromUpstream.messages[0x5a] ?? 0) - rfqBefore).toBeGreaterThanOrEqual(400);
    });
  }

  it('the simple-update (-N) script in prepared mode writes what it reports', async () => {
    const before = Number(await cluster().psql('select count(*) from pgbench_history'));
    const r = await pgbench(['-N', '-t', '50', '-c', '2', '-M', 'prepared', '-n'], proxy().port);
    expect(r.code, r.stderr).toBe(0);
    expect(summary(r.stdout)).toEqual({ processed: 100, planned: 100, failed: 0, mode: 'prepared' });
    expect(Number(await cluster().psql('select count(*) from pgbench_history'))).toBe(before + 100);
  });

  it('the default TPC-B-like script in extended mode with more clients than cores', async () => {
    const r = await pgbench(['-t', '25', '-c', '4', '-j', '2', '-M', 'extended', '-n'], proxy().port);
    expect(r.code, r.stderr).toBe(0);
    expect(summary(r.stdout)).toEqual({ processed: 100, planned: 100, failed: 0, mode: 'extended' });
    // The balances stay consistent: every history row (from -N too) moved money in an account, and
    // every TPC-B transaction moved the same amount in a teller and its branch.
    expect(
      await cluster().psql(
        'select (select sum(abalance) from pgbench_accounts) = (select sum(delta) from pgbench_history) and (select sum(tbalance) from pgbench_tellers) = (select sum(bbalance) from pgbench_branches) and (select sum(tbalance) from pgbench_tellers) <> 0',
      ),
    ).toBe('t');
  });
});
