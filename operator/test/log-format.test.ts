import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start } from '@pgwarden/e2e';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OPERATOR_MAIN, useBuiltOperator } from './operator-process.js';

// pgwarden-operator --log-format text as a process. Its API server is a
// closed port, so every watch fails: the errors show that each event stays one
// line, and the kubeconfig's token that it is never printed.

const TOKEN = 'kubeconfig-token-never-logged';
const LINE = /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): \S/;

useBuiltOperator();
let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgwarden-operator-log-'));
  await writeFile(
    join(dir, 'kubeconfig'),
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'closed', cluster: { server: 'https://127.0.0.1:1' } }],
      users: [{ name: 'u', user: { token: TOKEN } }],
      contexts: [{ name: 'c', context: { cluster: 'closed', user: 'u' } }],
      'current-context': 'c',
    }),
  );
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('pgwarden-operator --log-format text', () => {
  it('prints one readable line per event, errors included, and never the API token', async () => {
    const operator = start(process.execPath, [
      OPERATOR_MAIN,
      ...['--kubeconfig', join(dir, 'kubeconfig'), '--log-format', 'text', '--log-level', 'debug'],
      ...['--admin-listen', '127.0.0.1:0', '--webhook-listen', 'off', '--leader-elect', 'false'],
    ]);
    try {
      await vi.waitFor(
        () => {
          const { exitCode } = operator.child;
          if (exitCode !== null) throw new Error(`operator exited ${exitCode}: ${operator.stderr()}`);
          expect(operator.stdout()).toMatch(/ WARN: watch-error \{.*"error":/);
        },
        { timeout: 30_000, interval: 100 },
      );
    } finally {
      operator.child.kill('SIGTERM');
    }
    expect(await operator.exited).toBe(0);
    expect(operator.stderr()).toBe('');
    const out = operator.stdout();
    const lines = out.split('\n').filter((l) => l !== '');
    process.stdout.write(`${lines.length} text log lines, e.g.:\n${lines.slice(0, 2).join('\n')}\n`);
    for (const line of lines) expect(line).toMatch(LINE);
    expect(out).toMatch(/ INFO: shut down \{"identity":"[^"]+"\}$/m);
    expect(out).not.toContain(TOKEN);
  });

  it('a kubeconfig it cannot read ends the start with one fatal line, not a stack trace', async () => {
    const operator = start(process.execPath, [OPERATOR_MAIN, '--kubeconfig', join(dir, 'missing')]);
    expect(await operator.exited).toBe(1);
    expect(operator.stderr()).toBe('');
    const lines = operator.stdout().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({
      level: 60,
      msg: 'operator failed to start',
      error: expect.stringContaining(`ENOENT: no such file or directory, open '${join(dir, 'missing')}'`),
    });
  });
});
