import { freePort, start, usePostgres } from '@pgwarden/e2e';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_MAIN, REPO_ROOT, useBuiltCli } from '../support/cli.js';
import { ClientPool, waitFor, within } from './helpers.js';

// `pgwarden proxy --log-format text` as a process: readable lines a person
// can follow in `kubectl logs` or a terminal, with the same redaction as JSON.

useBuiltCli();

const cluster = usePostgres();
const pool = new ClientPool();
afterAll(() => pool.endAll());

/** "[2026-01-01T12:00:00.000Z] INFO: message {fields}" */
const LINE = /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): \S/;

describe('pgwarden proxy --log-format text', () => {
  it('prints one readable line per event and never the upstream password', async () => {
    const port = await freePort();
    const password = cluster().users.scram.password;
    const proxy = start(
      process.execPath,
      [
        CLI_MAIN,
        'proxy',
        ...['--policy', 'none', '--listen', `127.0.0.1:${port}`, '--admin-listen', 'off'],
        ...['--upstream', cluster().url('scram'), '--log-level', 'trace'],
      ],
      // The format from its environment variable, as the injected sidecar gets it.
      { cwd: REPO_ROOT, env: { PGWARDEN_LOG_FORMAT: 'text' } },
    );
    try {
      await waitFor(
        'the proxy to listen',
        () => proxy.stdout().includes('INFO: pgwarden proxy listening') || proxy.child.exitCode !== null,
        15_000,
      );
      expect(proxy.stderr()).toBe('');
      const client = await pool.pg(`postgresql://agent@127.0.0.1:${port}/app`);
      expect((await client.query('select current_user as who')).rows).toEqual([
        { who: cluster().users.scram.user },
      ]);
      await expect(client.query('select 1/0')).rejects.toThrow('division by zero');
      await client.end();
    } finally {
      proxy.child.kill('SIGTERM');
    }
    expect(await within(20_000, 'the proxy to exit after SIGTERM', proxy.exited)).toBe(0);
    const out = proxy.stdout();

    const lines = out.split('\n').filter((l) => l !== '');
    console.log(`${lines.length} text log lines, e.g.:\n${lines.slice(0, 3).join('\n')}`);
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) expect(line).toMatch(LINE);
    expect(out).not.toMatch(/^\{/m);
    expect(out).toContain('INFO: shutdown requested {"signal":"SIGTERM"}');
    // The URL the proxy was given carries the password; no line does.
    expect(out).not.toContain(password);
  });
});
