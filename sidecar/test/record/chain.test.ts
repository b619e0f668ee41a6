import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeChunk } from '../../src/record/chunk.js';
import { DirStore, Recorder } from '../../src/record/index.js';
import { flipBits, recordSample, START, settings, tempDirs, verifyStored } from './support.js';

const temp = tempDirs();

/** A sealed recording of several chunks in a dir sink. */
async function recording(statements = 6) {
  const spoolDir = await temp();
  const sinkDir = await temp();
  const recorder = await Recorder.open({
    settings: settings({ sink: { type: 'dir', path: sinkDir } }),
    spoolDir,
    sidecarVersion: 'test',
  });
  const session = recorder.sessionStart(START);
  for (let i = 0; i < statements; i++) {
    recordSample(session);
    await session.flush(); // one chunk per round
  }
  await session.sessionEnd('client-closed');
  await recorder.close();
  const store = new DirStore(sinkDir);
  return { store, id: session.recordingId, dir: join(sinkDir, session.recordingId) };
}

describe('a recording in a dir sink', () => {
  it('is complete, in order, sealed, and verifies', async () => {
    const { store, id } = await recording(3);
    const report = await verifyStored(store, id);
    expect(report).toMatchObject({
      ok: true,
      sealed: true,
      endReason: 'client-closed',
      chunks: 4,
      broken: null,
    });
    const events = [];
    for (const name of await store.listChunks(id))
      events.push(...(await decodeChunk(await store.readChunk(id, name))).events);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
    expect(events[0]).toMatchObject({
      type: 'session-start',
      recordingId: id,
      policy: { name: 'analytics' },
    });
    expect(events.filter((e) => e.type === 'rows')[0]).toMatchObject({
      columns: [{ name: 'id' }, { name: 'email', masked: true }],
      rows: [
        ['1', 'a***@example.com'],
        ['2', null],
      ],
      truncated: false,
    });
    expect(events.at(-1)).toMatchObject({
      type: 'session-end',
      totals: { statements: 6, denied: 3, rows: 6, errors: 3 },
    });
  });

  it('detects a flipped byte, naming the chunk', async () => {
    const { store, id, dir } = await recording();
    await flipBits(join(dir, '0000000002.jsonl.gz'), -20, 0x01); // inside the deflate stream
    expect((await verifyStored(store, id)).broken).toMatchObject({ chunk: '0000000002.jsonl.gz' });
  });

  it('detects a change that leaves the chunk readable, at the next chunk', async () => {
    const { store, id, dir } = await recording();
    // gzip header MTIME: decompresses the same, hashes differently
    await flipBits(join(dir, '0000000001.jsonl.gz'), 4, 0xff);
    const report = await verifyStored(store, id);
    expect(report.ok).toBe(false);
    expect(report.broken?.chunk).toBe('0000000002.jsonl.gz');
    expect(report.broken?.reason).toContain('is not the SHA-256 of 0000000001.jsonl.gz');
  });

  it('detects a deleted chunk', async () => {
    const { store, id, dir } = await recording();
    await rm(join(dir, '0000000003.jsonl.gz'));
    expect((await verifyStored(store, id)).broken).toEqual({
      chunk: '0000000003.jsonl.gz',
      reason: 'is missing (the next chunk present is 0000000004.jsonl.gz)',
    });
  });

  it('detects reordered chunks', async () => {
    const { store, id, dir } = await recording();
    await rename(join(dir, '0000000002.jsonl.gz'), join(dir, 'x'));
    await rename(join(dir, '0000000003.jsonl.gz'), join(dir, '0000000002.jsonl.gz'));
    await rename(join(dir, 'x'), join(dir, '0000000003.jsonl.gz'));
    expect((await verifyStored(store, id)).broken).toMatchObject({
      chunk: '0000000002.jsonl.gz',
      reason: 'has sequence number 3 in its header (moved or reordered)',
    });
  });

  it('detects a removed seal', async () => {
    const { store, id, dir } = await recording(2);
    await rm(join(dir, '0000000002.jsonl.gz'));
    const report = await verifyStored(store, id);
    expect(report).toMatchObject({ ok: false, sealed: false, broken: { chunk: '0000000002.jsonl.gz' } });
  });
});
