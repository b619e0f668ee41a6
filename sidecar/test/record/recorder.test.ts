import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../src/observe/log.js';
import { decodeChunk } from '../../src/record/chunk.js';
import { DirStore, Recorder } from '../../src/record/index.js';
import { recordSample, START, settings, tempDirs, verifyStored } from './support.js';

const temp = tempDirs();

async function allText(store: DirStore, id: string): Promise<string> {
  let text = '';
  for (const name of await store.listChunks(id))
    text += gunzipSync(await store.readChunk(id, name)).toString();
  return text;
}

describe('Recorder', () => {
  it('fsyncs a chunk before it counts as written, leaving no temp files', async () => {
    const spoolDir = await temp();
    const handle = await open(join(spoolDir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(handle) as { sync: () => Promise<void> };
    await handle.close();
    const sync = vi.spyOn(proto, 'sync');
    // A sink that never confirms keeps the chunk in the spool to look at.
    const sink = { description: 'stuck', put: () => new Promise<void>(() => {}), close: async () => {} };
    const recorder = await Recorder.open({
      settings: settings({ sink: { type: 'dir', path: '/unused' }, flushInterval: '1h' }),
      spoolDir,
      sidecarVersion: 'test',
      sink,
    });
    const session = recorder.sessionStart(START);
    recordSample(session);
    sync.mockClear();
    await session.flush();
    // chunk file, head.json, the recording directory, the spool directory (first chunk)
    expect(sync.mock.calls.length).toBeGreaterThanOrEqual(4);
    const files = await readdir(join(spoolDir, session.recordingId));
    expect(files.sort()).toEqual(['0000000000.jsonl.gz', 'head.json']);
    const chunk = await decodeChunk(
      await readFile(join(spoolDir, session.recordingId, '0000000000.jsonl.gz')),
    );
    expect(chunk.header).toMatchObject({ seq: 0, prevSha256: null, final: false, events: 8 });
    expect(recorder.stats().spoolChunks).toBe(1);
    sync.mockRestore();
    await recorder.close({ shipTimeoutMs: 100 });
  });

  it('refuses statements while the spool is over its cap, and takes them once it drained', async () => {
    const spoolDir = await temp();
    let release: () => void = () => {};
    let blocked = true;
    const sinkDir = await temp();
    const real = new DirStore(sinkDir);
    const sink = {
      description: 'gated',
      put: async (id: string, name: string, bytes: Buffer) => {
        if (blocked) await new Promise<void>((r) => (release = r));
        await real.put(id, name, bytes);
      },
      close: async () => {},
    };
    const recorder = await Recorder.open({
      settings: settings({ sink: { type: 'dir', path: sinkDir }, spoolCap: '1Ki' }),
      spoolDir,
      sidecarVersion: 'test',
      sink,
    });
    const session = recorder.sessionStart(START);
    while (recorder.stats().spoolBytes < 1024) {
      recordSample(session);
      await session.flush();
    }
    expect(session.refusal()).toMatchObject({
      cause: 'spool-full',
      code: '53100',
      message: expect.stringMatching(
        /^pgwarden: recording spool is full \(.* of 0\.0 MiB\); statements are refused/,
      ),
    });
    blocked = false;
    release();
    expect(await recorder.drained(10_000)).toBe(true);
    expect(session.refusal()).toBeNull();
    await session.sessionEnd('client-closed');
    await recorder.close();
    expect((await verifyStored(real, session.recordingId)).ok).toBe(true);
  });

  it('keeps rows up to the cap and marks the rest', async () => {
    const sinkDir = await temp();
    const recorder = await Recorder.open({
      settings: settings({ sink: { type: 'dir', path: sinkDir }, rowCapPerStatement: 3 }),
      spoolDir: await temp(),
      sidecarVersion: 'test',
    });
    const s = recorder.sessionStart(START);
    const q = s.statement({ protocol: 'simple', text: 'SELECT g FROM generate_series(1, 10) g' });
    s.columns(q, [{ name: 'g', typeOid: 23, masked: false }]);
    for (let i = 1; i <= 10; i++) if (s.wantsRows(q)) s.rows(q, [[String(i)]]);
    s.result(q, { commandTag: 'SELECT 10', rows: 10, durationMs: 2, bytes: 100 });
    await s.sessionEnd('client-closed');
    await recorder.close();
    const store = new DirStore(sinkDir);
    const events = (await decodeChunk(await store.readChunk(s.recordingId, '0000000000.jsonl.gz'))).events;
    expect(events.find((e) => e.type === 'rows')).toMatchObject({
      rows: [['1'], ['2'], ['3']],
      truncated: true,
      omittedRows: 7,
    });
  });

  it('never records credentials: unknown session-start fields are dropped, passwords in SQL and URLs redacted', async () => {
    const sinkDir = await temp();
    const warn = vi.fn();
    const log = { warn, error: vi.fn(), info: vi.fn() } as unknown as Logger;
    const recorder = await Recorder.open({
      settings: settings({ sink: { type: 'dir', path: sinkDir } }),
      spoolDir: await temp(),
      sidecarVersion: 'test',
      log,
    });
    const start = {
      ...START,
      password: 'hunter2-a',
      upstream: { ...START.upstream, password: 'hunter2-b' },
      clientAddress: 'postgres://agent:hunter2-c@10.0.0.1:5432',
    };
    const s = recorder.sessionStart(start);
    s.statement({ protocol: 'simple', text: "ALTER ROLE agent PASSWORD 'hunter2-d'" });
    s.statement({ protocol: 'simple', text: "CREATE ROLE x LOGIN ENCRYPTED PASSWORD E'hunter2-\\'e'" });
    s.statement({
      protocol: 'simple',
      text: "SELECT dblink_connect('host=db password=hunter2-f dbname=app')",
    });
    s.error({
      source: 'upstream',
      severity: 'ERROR',
      code: '08001',
      message: 'could not connect: password=hunter2-g',
    });
    await s.sessionEnd('client-closed');
    await recorder.close();
    const store = new DirStore(sinkDir);
    const text = await allText(store, s.recordingId);
    expect(text).not.toContain('hunter2');
    expect(text).toContain("PASSWORD '[redacted]'");
    expect(text).toContain('postgres://agent:[redacted]@10.0.0.1:5432');
    expect(warn).toHaveBeenCalledWith(
      { recording: s.recordingId, fields: expect.arrayContaining(['password', 'upstream.password']) },
      expect.any(String),
    );
    expect(JSON.stringify(warn.mock.calls)).not.toContain('hunter2');
    expect((await verifyStored(store, s.recordingId)).ok).toBe(true);
  });

  it('refuses a session whose start does not fit the schema instead of writing a broken recording', async () => {
    const recorder = await Recorder.open({
      settings: settings({ sink: { type: 'dir', path: await temp() } }),
      spoolDir: await temp(),
      sidecarVersion: 'test',
    });
    const s = recorder.sessionStart({ ...START, policy: { name: 'p', hash: 'not-a-hash' } });
    expect(s.refusal()).toMatchObject({ cause: 'invalid-session', code: '53400' });
    expect(() => s.statement({ protocol: 'simple', text: 'SELECT 1' })).not.toThrow();
    await recorder.close();
  });
  it('keeps every character of multi-byte text, in events of any size, across chunks cut by size', async () => {
    const sinkDir = await temp();
    const recorder = await Recorder.open({
      settings: settings({
        sink: { type: 'dir', path: sinkDir },
        includeRows: true,
        chunkSize: '64Ki',
        flushInterval: '1h',
      }),
      spoolDir: await temp(),
      sidecarVersion: 'test',
    });
    const session = recorder.sessionStart(START);
    // Two-, three- and four-byte UTF-8, and values far larger than the buffer a session starts with.
    const texts = ["SELECT 'é'", `SELECT '${'€'.repeat(10_000)}'`, `SELECT '${'👍🏽'.repeat(5_000)}'`];
    for (let i = 0; i < 30; i++) {
      const text = texts[i % texts.length] as string;
      const id = session.statement({ protocol: 'extended', text, parameters: [`ñ${i}`, null] });
      session.columns(id, [{ name: 'ü', typeOid: 25, masked: false }]);
      session.rows(id, [[text.slice(7)]]);
      session.result(id, { commandTag: 'SELECT 1', rows: 1, durationMs: 0.0123456, bytes: text.length });
    }
    await session.sessionEnd('client-closed');
    expect(await recorder.drained(10_000)).toBe(true);
    await recorder.close();

    const store = new DirStore(sinkDir);
    expect(await verifyStored(store, session.recordingId)).toMatchObject({ ok: true, events: 2 + 30 * 3 });
    const names = await store.listChunks(session.recordingId);
    expect(names.length).toBeGreaterThan(3);
    const events = [];
    for (const name of names)
      events.push(...(await decodeChunk(await store.readChunk(session.recordingId, name))).events);
    const statements = events.filter((e) => e.type === 'statement');
    expect(statements.map((e) => [e.text, e.parameters])).toEqual(
      Array.from({ length: 30 }, (_, i) => [texts[i % texts.length], [`ñ${i}`, null]]),
    );
    expect(events.filter((e) => e.type === 'rows').map((e) => e.rows[0]?.[0])).toEqual(
      Array.from({ length: 30 }, (_, i) => (texts[i % texts.length] as string).slice(7)),
    );
    expect(events.find((e) => e.type === 'result')).toMatchObject({ durationMs: 0.012 });
  });
});
