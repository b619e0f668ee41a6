import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { usePostgres } from '@pgwarden/e2e';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClientPool, waitFor } from '../integration/helpers.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import {
  HASH_KEY_ENV,
  readRecordings,
  type StoredRecording,
  schemaSql,
  sealedRecording,
  writeRecordingPolicy,
} from './proxy-support.js';

/**
 * `pgwarden replay --follow` (the built CLI, as an operator runs it) against a
 * dir sink while a session runs through the proxy: it prints each statement
 * once its chunk has shipped, and stops when the final chunk arrives, or on
 * SIGINT with a summary of how far the chain is intact.
 */

const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const cluster = usePostgres();
const pool = new ClientPool();
const followers: ChildProcess[] = [];
let sinkDir: string;
let proxy: TestProxy;

beforeAll(async () => {
  await cluster().psql(schemaSql);
  process.env[HASH_KEY_ENV] = 'recording-test-hash-key-0123456789';
  sinkDir = await mkdtemp(join(tmpdir(), 'pgwarden-recordings-follow-'));
  proxy = await startTestProxy(cluster(), {
    policy: await writeRecordingPolicy({ sink: { type: 'dir', path: sinkDir } }),
    spoolDir: await mkdtemp(join(tmpdir(), 'pgwarden-spool-follow-')),
  });
});
afterEach(async () => {
  for (const f of followers.splice(0)) if (f.exitCode === null && f.signalCode === null) f.kill('SIGKILL');
  await pool.endAll();
});
afterAll(async () => {
  await proxy?.drain(2000);
});

/** `pgwarden replay --follow` as a child process; `out` grows as it prints. */
function follow(id: string, json: boolean) {
  const args = [cli, 'replay', sinkDir, '--session', id, '--follow', ...(json ? ['--json'] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  followers.push(child);
  const state = { out: '', err: '' };
  child.stdout.setEncoding('utf8').on('data', (d: string) => (state.out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (state.err += d));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, state, exited };
}

describe('pgwarden replay --follow on a live session', () => {
  it('prints events as their chunks ship, and exits 0 when the session is sealed', async () => {
    const client = await pool.pg(proxy.url({ application_name: 'rec-follow' }));
    await client.query('SELECT 1 AS first');
    const live = await shipped('rec-follow', 'SELECT 1 AS first');
    expect(live.sealed).toBe(false);

    const f = follow(live.id, true);
    const printed = () =>
      f.state.out
        .slice(0, f.state.out.lastIndexOf('\n') + 1)
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as { seq: number; type: string; text?: string });
    const statements = () =>
      printed()
        .filter((e) => e.type === 'statement')
        .map((e) => e.text);
    await waitFor('the first statement printed', () => statements().includes('SELECT 1 AS first'), 30_000);

    await client.query('SELECT 2 AS second');
    await waitFor('the second statement printed', () => statements().includes('SELECT 2 AS second'), 30_000);
    // Still following: the session is open, its final chunk not written.
    expect(f.child.exitCode).toBeNull();
    expect(printed().some((e) => e.type === 'session-end')).toBe(false);

    await client.end();
    expect(await f.exited).toBe(0);
    expect(f.state.err).toBe('');
    const sealed = await sealedRecording(sinkDir, 'rec-follow');
    // Everything the recording holds, each event once, in order.
    expect(printed()).toEqual(JSON.parse(JSON.stringify(sealed.events)));
    expect(printed().at(-1)).toMatchObject({ type: 'session-end', reason: 'client-closed' });
  });

  it('on SIGINT stops following an open session, saying how far the chain is intact', async () => {
    const client = await pool.pg(proxy.url({ application_name: 'rec-follow-interrupted' }));
    await client.query('SELECT id FROM orders ORDER BY id LIMIT 2');
    const live = await shipped('rec-follow-interrupted', 'SELECT id FROM orders ORDER BY id LIMIT 2');

    const f = follow(live.id, false);
    await waitFor(
      'the transcript',
      () =>
        f.state.out.includes('#1 simple: SELECT id FROM orders ORDER BY id LIMIT 2') &&
        f.state.out.includes('(2 rows)'),
      30_000,
    );
    f.child.kill('SIGINT');
    expect(await f.exited).toBe(0);
    expect(f.state.out).toMatch(
      /\n-- stopped following: chain intact so far: [1-9]\d* chunks, [1-9]\d* events, not sealed yet\n$/,
    );
    expect(f.state.err).toBe('');
    await client.end();
  });
});

/** The recording of this application_name once the statement `text` up to its result is in the sink. */
async function shipped(applicationName: string, text: string): Promise<StoredRecording> {
  let found: StoredRecording | undefined;
  const deadline = Date.now() + 20_000;
  while (found === undefined) {
    if (Date.now() > deadline) throw new Error(`no chunk with ${text} for ${applicationName} in ${sinkDir}`);
    found = (await readRecordings(sinkDir)).find((r) => {
      const start = r.events[0];
      return (
        start?.type === 'session-start' &&
        start.applicationName === applicationName &&
        r.events.some(
          (e) =>
            e.type === 'result' &&
            r.events.some(
              (s) => s.type === 'statement' && s.text === text && s.statementId === e.statementId,
            ),
        )
      );
    });
    if (found === undefined) await sleep(25);
  }
  return found;
}
