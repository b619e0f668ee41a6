import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { usePostgres } from '@pgwarden/e2e';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClientPool, LogCapture, waitFor } from '../integration/helpers.js';
import type { TestProxy } from '../support/proxy.js';
import {
  eventsOf,
  failure,
  HASH_KEY_ENV,
  recordingProxies,
  schemaSql,
  sealedRecording,
  tempDir,
} from './proxy-support.js';
import { replay } from './support.js';

/**
 * The recorder on the proxy's /metrics (scraped over the admin HTTP endpoint)
 * while a sink is unreachable and after it returns; and `failClosed: false`:
 * with a full spool statements run, one warning is logged for the episode,
 * and the events that could not be kept are counted and marked by a gap.
 */

const cluster = usePostgres();
const pool = new ClientPool();
const recordingProxy = recordingProxies(cluster);

/** A dir sink path where a file stands: every chunk fails to ship until unblock() makes it a directory. */
async function blockedSink(): Promise<{ path: string; unblock(): Promise<void> }> {
  const path = join(await tempDir('blocked-sink'), 'recordings');
  await writeFile(path, 'not a directory');
  return {
    path,
    unblock: async () => {
      await rm(path);
      await mkdir(path);
    },
  };
}

type Scrape = (name: string, labels?: Record<string, string>) => number | undefined;

/** GET /metrics on the admin endpoint; a lookup of one sample by name and labels. */
async function scrape(proxy: TestProxy): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${proxy.adminAddress?.port}/metrics`);
  expect(res.status).toBe(200);
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return (name, labels = {}) => {
    const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    return samples.get(pairs.length > 0 ? `${name}{${pairs.join(',')}}` : name);
  };
}

beforeAll(async () => {
  await cluster().psql(schemaSql);
  process.env[HASH_KEY_ENV] = 'recording-test-hash-key-0123456789';
});
afterEach(() => pool.endAll());

describe('recorder metrics on /metrics', () => {
  it('spool bytes and chunks, refusals, ship failures and the oldest chunk age while the sink is down; shipped chunks after', async () => {
    const sink = await blockedSink();
    const proxy = await recordingProxy({ sink: { type: 'dir', path: sink.path }, spoolCap: '2Ki' });
    const client = await pool.pg(proxy.url({ application_name: 'rec-metrics' }));

    let refusals = 0;
    for (let i = 0; i < 400 && refusals === 0; i++) {
      const err = await failure(client, 'SELECT id, full_name FROM customers ORDER BY id');
      if (err === null) await sleep(10);
      else {
        expect(err.code).toBe('53100');
        refusals++;
      }
    }
    expect(refusals).toBe(1);
    for (let i = 0; i < 2; i++) {
      expect((await failure(client, 'SELECT 1'))?.code).toBe('53100');
      refusals++;
    }

    const down = await scrape(proxy);
    expect(down('pgwarden_recording_refused_statements_total', { cause: 'spool-full' })).toBe(refusals);
    expect(down('pgwarden_recording_refused_statements_total', { cause: 'write-failed' })).toBe(0);
    expect(down('pgwarden_recording_spool_capacity_bytes')).toBe(2048);
    expect(down('pgwarden_recording_spool_bytes')).toBeGreaterThanOrEqual(2048);
    expect(down('pgwarden_recording_spool_chunks')).toBeGreaterThanOrEqual(1);
    expect(down('pgwarden_recording_ship_failures_total', { sink: 'dir' })).toBeGreaterThanOrEqual(1);
    expect(down('pgwarden_recording_chunks_shipped_total', { sink: 'dir' })).toBe(0);
    expect(down('pgwarden_recording_oldest_unshipped_chunk_age_seconds')).toBeGreaterThan(0);
    expect(down('pgwarden_recording_sessions')).toBe(1);
    expect(down('pgwarden_recording_dropped_events_total', { reason: 'spool-full' })).toBe(0);

    await sink.unblock();
    await waitFor(
      'the spool to drain',
      async () => (await scrape(proxy))('pgwarden_recording_spool_chunks') === 0,
      60_000,
    );
    expect(await failure(client, 'SELECT 1')).toBeNull();
    await client.end();
    const r = await sealedRecording(sink.path, 'rec-metrics', 60_000);
    expect((await replay([sink.path, '--session', r.id, '--verify'])).code).toBe(0);
    const inSink = (await readdir(join(sink.path, r.id))).filter((n) => n.endsWith('.jsonl.gz'));
    // Counted once the spool let go of the chunk, just after the sink took it.
    const up = await waitFor('every chunk in the sink counted as shipped', async () => {
      const m = await scrape(proxy);
      return m('pgwarden_recording_chunks_shipped_total', { sink: 'dir' }) === inSink.length && m;
    });
    expect(up('pgwarden_recording_shipped_bytes_total', { sink: 'dir' })).toBeGreaterThan(0);
    expect(up('pgwarden_recording_spool_bytes')).toBe(0);
    expect(up('pgwarden_recording_oldest_unshipped_chunk_age_seconds')).toBe(0);
    expect(up('pgwarden_recording_sessions')).toBe(0);
  });

  it('names every recorder metric in the proxy metrics table of docs/proxy.md', async () => {
    const proxy = await recordingProxy({ sink: { type: 'dir', path: await tempDir('sink') } });
    const names = (await proxy.metrics.registry.getMetricsAsJSON())
      .map((m) => m.name)
      .filter((n) => n.startsWith('pgwarden_recording_'));
    expect(names.length).toBeGreaterThanOrEqual(10);
    const doc = await readFile(new URL('../../../docs/proxy.md', import.meta.url), 'utf8');
    expect(names.filter((n) => !doc.includes(`\`${n}`))).toEqual([]);
  });
});

describe('failClosed: false', () => {
  it('with a full spool statements run, one warning is logged for the episode, and dropped events are counted and marked', async () => {
    const logs = new LogCapture();
    const sink = await blockedSink();
    const proxy = await recordingProxy(
      { sink: { type: 'dir', path: sink.path }, spoolCap: '2Ki', failClosed: false },
      logs,
    );
    const client = await pool.pg(proxy.url({ application_name: 'rec-fail-open' }));
    const warnings = () =>
      logs.events.filter((e) => String(e.msg).startsWith('recording spool is full; statements run on'));

    for (let i = 0; i < 400 && warnings().length === 0; i++) {
      const { rows } = await client.query('SELECT id, full_name FROM customers ORDER BY id');
      expect(rows).toHaveLength(5);
      await sleep(10);
    }
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ level: 'warn', spoolCapBytes: 2048 });

    // Each result keeps up to rowBytesPerStatement (1 MiB) of rows: a few fill the session's
    // in-memory buffer (4 MiB), and later events are dropped while the statements still run.
    const big = "SELECT repeat('x', 300000) AS big FROM generate_series(1, 8)";
    let dropped = 0;
    for (let i = 0; i < 40 && dropped === 0; i++) {
      const { rows } = await client.query(big);
      expect(rows).toHaveLength(8);
      dropped =
        (await scrape(proxy))('pgwarden_recording_dropped_events_total', { reason: 'spool-full' }) ?? 0;
    }
    expect(dropped).toBeGreaterThan(0);
    for (let i = 0; i < 3; i++) expect((await client.query(big)).rows).toHaveLength(8);
    const full = await scrape(proxy);
    expect(full('pgwarden_recording_dropped_events_total', { reason: 'spool-full' })).toBeGreaterThan(
      dropped,
    );
    expect(full('pgwarden_recording_refused_statements_total', { cause: 'spool-full' })).toBe(0);
    expect(full('pgwarden_recording_refused_statements_total', { cause: 'overload' })).toBe(0);
    // One episode, one warning, however many statements ran in it.
    expect(warnings()).toHaveLength(1);

    await sink.unblock();
    await waitFor(
      'the drained message',
      () =>
        logs.events.some((e) => e.msg === 'recording spool drained below its cap; events are written again'),
      60_000,
    );
    await client.end();
    const r = await sealedRecording(sink.path, 'rec-fail-open', 60_000);
    expect((await replay([sink.path, '--session', r.id, '--verify'])).code).toBe(0);
    const gaps = eventsOf(r, 'gap');
    expect(gaps.length).toBeGreaterThanOrEqual(1);
    expect(gaps.every((g) => g.reason === 'spool-full')).toBe(true);
    const total = (await scrape(proxy))('pgwarden_recording_dropped_events_total', { reason: 'spool-full' });
    expect(gaps.reduce((n, g) => n + g.dropped, 0)).toBe(total);
    expect(r.events.at(-1)).toMatchObject({ type: 'session-end', reason: 'client-closed' });
  });
});
