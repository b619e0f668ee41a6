import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeChunk } from '../../src/record/chunk.js';
import { DirStore, Recorder } from '../../src/record/index.js';
import { settings, tempDirs, verifyStored } from './support.js';

const temp = tempDirs();
const child = fileURLToPath(new URL('./fixtures/crash-child.mjs', import.meta.url));

describe('a sidecar killed with SIGKILL mid-session', () => {
  it('loses only what was not fsync’d; the next start ships the rest and seals the session as interrupted', async () => {
    const spoolDir = await temp();
    const sinkDir = await temp();
    const proc = spawn(process.execPath, [child, spoolDir, sinkDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(proc.stdout.setEncoding('utf8'), 'data')) as [string];
    const { recordingId, flushedEvents } = JSON.parse(line) as { recordingId: string; flushedEvents: number };
    proc.kill('SIGKILL');
    await once(proc, 'exit');

    const recorder = await Recorder.open({
      settings: settings({ sink: { type: 'dir', path: sinkDir } }),
      spoolDir,
      sidecarVersion: 'test',
    });
    expect(recorder.stats().orphansSealed).toBe(1);
    expect(await recorder.drained(10_000)).toBe(true);
    await recorder.close();

    const store = new DirStore(sinkDir);
    const report = await verifyStored(store, recordingId);
    expect(report).toMatchObject({
      ok: true,
      sealed: true,
      endReason: 'interrupted',
      events: flushedEvents + 1,
    });
    const names = await store.listChunks(recordingId);
    const last = await decodeChunk(await store.readChunk(recordingId, names.at(-1) as string));
    expect(last.events).toEqual([
      expect.objectContaining({
        type: 'session-end',
        reason: 'interrupted',
        seq: flushedEvents,
        totals: { statements: 7, denied: 0, rows: 7, errors: 0 },
      }),
    ]);
  });
});
