import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { type S3Server, startS3 } from '@pgwarden/e2e';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { runReplayCommand } from '../../src/cli/replay-command.js';
import { Recorder, S3Store } from '../../src/record/index.js';
import { recordSample, START, settings, tempDirs, verifyStored } from './support.js';

const temp = tempDirs();
const BUCKET = 'recordings';

describe('S3 sink against a real S3-compatible server (versitygw)', () => {
  let s3: S3Server;
  // The first run on a machine builds versitygw from Go modules (about 2 minutes on 2 cores).
  beforeAll(async () => {
    s3 = await startS3();
    await s3.createBucket(BUCKET);
  }, 600_000);
  afterAll(async () => {
    await s3?.destroy();
  });
  beforeEach(async () => {
    if (!s3.running) await s3.restart();
  });

  const env = () => ({ REC_KEY: s3.accessKeyId, REC_SECRET: s3.secretAccessKey });
  const sink = (prefix: string, extra: Record<string, string> = {}) => ({
    type: 's3' as const,
    bucket: BUCKET,
    prefix,
    endpoint: s3.endpoint,
    pathStyle: true,
    credentials: { accessKeyIdEnv: 'REC_KEY', secretAccessKeyEnv: 'REC_SECRET' },
    ...extra,
  });
  const store = (prefix: string) =>
    S3Store.create({
      bucket: BUCKET,
      prefix,
      region: 'us-east-1',
      endpoint: s3.endpoint,
      pathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      multipartThresholdBytes: Number.POSITIVE_INFINITY,
      partSizeBytes: 5 * 1024 ** 2,
    });

  it('keeps chunks in the spool while the store is down, refuses when full, ships everything after', async () => {
    const recorder = await Recorder.open({
      settings: settings({ sink: sink('outage/'), spoolCap: '4Ki' }),
      spoolDir: await temp(),
      sidecarVersion: 'test',
      env: env(),
      backoff: { baseMs: 20, maxMs: 200 },
    });
    const session = recorder.sessionStart(START);
    recordSample(session);
    await session.flush();
    expect(await recorder.drained(10_000)).toBe(true);

    await s3.stop();
    const shippedBefore = recorder.stats().shippedChunks;
    while (session.refusal() === null) {
      recordSample(session);
      await session.flush();
    }
    expect(session.refusal()).toMatchObject({ cause: 'spool-full', code: '53100' });
    const during = recorder.stats();
    expect(during.shippedChunks).toBe(shippedBefore);
    expect(during.spoolChunks).toBeGreaterThan(1);
    await vi.waitFor(() => expect(recorder.stats().consecutiveFailures).toBeGreaterThan(1), {
      timeout: 10_000,
    });

    await s3.restart();
    expect(await recorder.drained(30_000)).toBe(true);
    expect(session.refusal()).toBeNull();
    await session.sessionEnd('client-closed');
    expect((await recorder.close()).shipped).toBe(true);

    const s = await store('outage/');
    const report = await verifyStored(s, session.recordingId);
    await s.close();
    expect(report).toMatchObject({ ok: true, sealed: true, chunks: during.spoolChunks + shippedBefore + 1 });
  });

  it('uploads a large chunk as a multipart upload', async () => {
    const recorder = await Recorder.open({
      settings: settings({
        sink: sink('multipart/', { multipartThreshold: '5Mi', partSize: '5Mi' }),
        chunkSize: '64Mi',
        rowBytesPerStatement: '64Mi',
        flushInterval: '1h',
      }),
      spoolDir: await temp(),
      sidecarVersion: 'test',
      env: env(),
    });
    const session = recorder.sessionStart(START);
    const q = session.statement({ protocol: 'simple', text: 'SELECT blob FROM files' });
    session.columns(q, [{ name: 'blob', typeOid: 25, masked: false }]);
    // Random base64 compresses to about 3/4: 12 MiB of values make a chunk of about 9 MiB, two 5 MiB parts.
    const rows = Array.from({ length: 12 }, () => [randomBytes(786_432).toString('base64')]);
    session.rows(q, rows);
    session.result(q, { commandTag: 'SELECT 12', rows: 12, durationMs: 30, bytes: 12 * 1024 ** 2 });
    await session.sessionEnd('client-closed');
    expect((await recorder.close({ shipTimeoutMs: 60_000 })).shipped).toBe(true);

    const s = await store('multipart/');
    const [name] = await s.listChunks(session.recordingId);
    expect(await s.etag(session.recordingId, name as string)).toMatch(/-2"?$/);
    const report = await verifyStored(s, session.recordingId);
    await s.close();
    expect(report).toMatchObject({ ok: true, chunks: 1 });
  });

  it('replays and verifies from an s3:// URL', async () => {
    const recorder = await Recorder.open({
      settings: settings({ sink: sink('replay/') }),
      spoolDir: await temp(),
      sidecarVersion: 'test',
      env: env(),
    });
    const session = recorder.sessionStart(START);
    recordSample(session, 2);
    await session.sessionEnd('client-closed');
    await recorder.close();
    const out = new PassThrough();
    let text = '';
    out.on('data', (d) => (text += d));
    const code = await runReplayCommand(
      ['s3://recordings/replay', '--verify', '--s3-endpoint', s3.endpoint, '--s3-path-style'],
      {
        out,
        err: out,
        env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey },
      },
    );
    expect(text).toContain(`${session.recordingId}: OK, 1 chunks, 16 events, sealed (client-closed)`);
    expect(code).toBe(0);
  });
});
