import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type S3Server, startS3, usePostgres } from '@pgwarden/e2e';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { loadProxyConfig } from '../../src/config/proxy-config.js';
import { ClientPool, psql, waitFor } from '../integration/helpers.js';
import {
  eventsOf,
  failure,
  HASH_KEY_ENV,
  readRecordings,
  recordingProxies,
  schemaSql,
  sealedRecording,
  tempDir,
  writeRecordingPolicy,
} from './proxy-support.js';
import { replay } from './support.js';

/**
 * The recording's guarantees through the live proxy: a full spool refuses
 * statements (fail closed) and the session goes on once it drains; a drain
 * seals open sessions; the S3 sink works behind the proxy as the dir sink does.
 */

const cluster = usePostgres();
const pool = new ClientPool();
const recordingProxy = recordingProxies(cluster);

beforeAll(async () => {
  await cluster().psql(schemaSql);
  process.env[HASH_KEY_ENV] = 'recording-test-hash-key-0123456789';
});
afterEach(() => pool.endAll());

describe('recording through the proxy: durability', () => {
  it('refuses a policy that records without --spool-dir, naming the option', async () => {
    const policy = await writeRecordingPolicy({ sink: { type: 'dir', path: '/recordings' } });
    const options = { upstream: cluster().url('superuser'), policy };
    expect(() => loadProxyConfig(options)).toThrow(ConfigError);
    expect(() => loadProxyConfig(options)).toThrow(
      'spool-dir: policy "recorded-agent" records sessions (spec.recording), which needs --spool-dir DIR (env PGWARDEN_SPOOL_DIR)',
    );
    expect(loadProxyConfig({ ...options, spoolDir: '/tmp/spool' }).spoolDir).toBe('/tmp/spool');
  });

  it('refuses statements with 53100 while the spool is full, and the same session runs again once it drained', async () => {
    const root = await tempDir('blocked-sink');
    const sink = join(root, 'recordings');
    // A file where the sink directory should be: every chunk fails to ship until it is replaced.
    await writeFile(sink, 'not a directory');
    const proxy = await recordingProxy({ sink: { type: 'dir', path: sink }, spoolCap: '2Ki' });
    const client = await pool.pg(proxy.url({ application_name: 'rec-spool-full' }));
    const prepared = { name: 'customer-name', text: 'SELECT full_name FROM customers WHERE id = $1' };
    await client.query({ ...prepared, values: [1] });

    let refused: pg.DatabaseError | null = null;
    for (let i = 0; i < 400 && refused === null; i++) {
      refused = await failure(client, 'SELECT id, full_name FROM customers ORDER BY id');
      if (refused === null) await sleep(10);
    }
    expect(refused?.code).toBe('53100');
    expect(refused?.message).toMatch(
      /^pgwarden: recording spool is full \(.* MiB of 0\.0 MiB\); statements are refused until it drains to the sink$/,
    );
    // Every protocol path is refused: simple (Query), extended (Parse), a prepared statement's Execute.
    expect((await failure(client, 'SELECT 1'))?.code).toBe('53100');
    expect((await failure(client, 'SELECT $1::int AS n', [1]))?.code).toBe('53100');
    const execute = await client.query({ ...prepared, values: [2] }).catch((err: pg.DatabaseError) => err);
    expect(execute).toMatchObject({ code: '53100' });

    await rm(sink);
    await mkdir(sink);
    let error: pg.DatabaseError | null = refused;
    const deadline = Date.now() + 60_000;
    while (error !== null && Date.now() < deadline) {
      await sleep(200);
      error = await failure(client, 'SELECT 1');
      if (error !== null) expect(error.code).toBe('53100');
    }
    expect(error).toBeNull();
    const { rows } = await client.query('SELECT count(*)::int AS n FROM customers WHERE id = $1', [2]);
    expect(rows).toEqual([{ n: 1 }]);
    await client.end();

    const r = await sealedRecording(sink, 'rec-spool-full', 60_000);
    expect((await replay([sink, '--session', r.id, '--verify'])).code).toBe(0);
    const errors = eventsOf(r, 'error').filter((e) => e.code === '53100');
    expect(errors.length).toBeGreaterThanOrEqual(3);
    expect(errors.every((e) => e.source === 'pgwarden')).toBe(true);
    const refusedStatements = new Set(errors.map((e) => e.statementId));
    // A refused statement is recorded with its error, and without a decision: the policy never saw it.
    expect(eventsOf(r, 'decision').some((d) => refusedStatements.has(d.statementId))).toBe(false);
    expect(eventsOf(r, 'statement').at(-1)).toMatchObject({
      protocol: 'extended',
      text: 'SELECT count(*)::int AS n FROM customers WHERE id = $1',
      parameters: ['2'],
    });
  });

  it('seals every open session with reason shutdown when the proxy drains', async () => {
    const sink = await tempDir('drain-sink');
    const proxy = await recordingProxy({ sink: { type: 'dir', path: sink } });
    const client = await pool.pg(proxy.url({ application_name: 'rec-drain' }));
    const closed = new Promise<Error>((resolve) => client.once('error', resolve));
    await client.query('SELECT id FROM orders ORDER BY id LIMIT 2');
    await proxy.drain(5000);
    expect(((await closed) as pg.DatabaseError).code).toBe('57P01');

    // The drain waited for the spool to ship: the sealed recording is in the sink now.
    const [r] = (await readRecordings(sink)).filter((x) => {
      const start = x.events[0];
      return start?.type === 'session-start' && start.applicationName === 'rec-drain';
    });
    expect(r?.sealed).toBe(true);
    expect(r?.events.at(-1)).toMatchObject({
      type: 'session-end',
      reason: 'shutdown',
      totals: { statements: 1, rows: 2 },
    });
    expect((await replay([sink, '--verify'])).code).toBe(0);
  });

  describe('with an S3 sink (versitygw)', () => {
    let s3: S3Server;
    beforeAll(async () => {
      s3 = await startS3();
      await s3.createBucket('agent-recordings');
      process.env.PGWARDEN_TEST_S3_KEY = s3.accessKeyId;
      process.env.PGWARDEN_TEST_S3_SECRET = s3.secretAccessKey;
    }, 600_000);
    afterAll(async () => {
      await s3?.destroy();
    });

    it('ships a session through the proxy to the bucket, where replay verifies and prints it', async () => {
      const proxy = await recordingProxy({
        sink: {
          type: 's3',
          bucket: 'agent-recordings',
          prefix: 'prod/',
          endpoint: s3.endpoint,
          pathStyle: true,
          credentials: {
            accessKeyIdEnv: 'PGWARDEN_TEST_S3_KEY',
            secretAccessKeyEnv: 'PGWARDEN_TEST_S3_SECRET',
          },
        },
      });
      const result = await psql(cluster(), proxy.url({ application_name: 'rec-s3' }), [
        '-c',
        'SELECT id, ssn FROM customers WHERE id = 4',
        '-c',
        'SELECT count(*) FROM orders',
      ]);
      expect(result.stdout).toContain('[redacted]');
      // psql has exited; the drain must not overtake the proxy noticing it (the session would end as shutdown).
      await waitFor(
        'the psql session to end in the proxy',
        async () => (await proxy.metrics.connectionsActive.get()).values[0]?.value === 0,
      );
      await proxy.drain(5000);

      const env = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
      const where = ['s3://agent-recordings/prod/', '--s3-endpoint', s3.endpoint, '--s3-path-style'];
      const verified = await replay([...where, '--verify'], env);
      expect(verified.code, verified.out + verified.err).toBe(0);
      const json = await replay([...where, '--session', 'latest', '--json'], env);
      expect(json.code).toBe(0);
      const events = json.out
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { type: string; text?: string; applicationName?: string });
      expect(events[0]).toMatchObject({ type: 'session-start', applicationName: 'rec-s3' });
      expect(events.filter((e) => e.type === 'statement').map((e) => e.text)).toEqual([
        'SELECT id, ssn FROM customers WHERE id = 4',
        'SELECT count(*) FROM orders',
      ]);
      expect(json.out).not.toContain('224-34-4104');
      expect(events.at(-1)).toMatchObject({ type: 'session-end', reason: 'client-closed' });
    });
  });
});
