import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '@pgwarden/e2e';
import { describe, expect, it } from 'vitest';
import { Recorder } from '../../src/record/index.js';
import { flipBits, recordSample, replay, START, settings, tempDirs } from './support.js';

const temp = tempDirs();
const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

async function recorded() {
  const sinkDir = await temp();
  const recorder = await Recorder.open({
    settings: settings({ sink: { type: 'dir', path: sinkDir } }),
    spoolDir: await temp(),
    sidecarVersion: '0.1.0',
  });
  const s = recorder.sessionStart(START);
  recordSample(s);
  await s.flush();
  const q = s.statement({ protocol: 'simple', text: 'DELETE FROM orders' });
  s.decision(q, { outcome: 'approve', rule: 'hold-deletes', message: 'needs a human' });
  s.approval(q, { phase: 'requested', request: 'qa-7f2c' });
  s.approval(q, { phase: 'approved', request: 'qa-7f2c', approver: 'alice@example.com' });
  s.result(q, { commandTag: 'DELETE 3', rows: 3, durationMs: 4, bytes: 0 });
  await s.sessionEnd('client-closed');
  await recorder.close();
  return { sinkDir, id: s.recordingId };
}

describe('pgwarden replay', () => {
  it('lists recordings', async () => {
    const { sinkDir, id } = await recorded();
    const { code, out } = await replay([sinkDir]);
    expect(code).toBe(0);
    expect(out).toMatch(/^RECORDING\s+STARTED\s+CLIENT\s+POLICY\s+CHUNKS\s+END$/m);
    expect(out).toMatch(
      new RegExp(`^${id}\\s+\\S+Z\\s+agents/agent-0\\s+analytics\\s+2\\s+client-closed$`, 'm'),
    );
  });

  it('prints a timed transcript with tables, decisions and approvals inline', async () => {
    const { sinkDir, id } = await recorded();
    const { code, out } = await replay([sinkDir, '--session', id]);
    expect(code).toBe(0);
    const text = out.replace(/\[\+\d+\.\d{3}s\]/g, '[+T]');
    expect(text).toContain(`Recording ${id}`);
    expect(text).toContain('  pod       agents/agent-0 (service account agent)');
    expect(text).toContain('[+T] #1 simple: SELECT id, email FROM users ORDER BY id LIMIT 2');
    expect(text).toContain('          ALLOW by rule "read-users" (read; reads users)');
    expect(text).toContain(
      [
        '   id |      email*',
        '  ----+------------------',
        '    1 | a***@example.com',
        '    2 |',
        '  (2 rows)',
        '  * masked by pgwarden',
      ].join('\n'),
    );
    expect(text).toContain("[+T] #2 extended: DELETE FROM users WHERE id = $1\n          parameters: $1='7'");
    expect(text).toContain('          DENY by rule "no-deletes": deleting is not allowed');
    expect(text).toContain('          ERROR 42501 (pgwarden): pgwarden: denied');
    expect(text).toContain('[+T] approval requested for #3 (request qa-7f2c)');
    expect(text).toContain('[+T] approval approved for #3 (request qa-7f2c, by alice@example.com)');
    expect(text).toContain(
      '[+T] session end: client-closed\n          3 statements, 1 denied, 5 rows, 1 errors',
    );
    expect(text).toContain('-- chain intact: 2 chunks, 14 events, sealed');
  });

  it('prints events as JSON lines', async () => {
    const { sinkDir, id } = await recorded();
    const { code, out } = await replay([sinkDir, '--session', 'latest', '--json']);
    expect(code).toBe(0);
    const events = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.map((e) => e.seq)).toEqual([...events.keys()]);
    expect(events[0]).toMatchObject({ type: 'session-start', recordingId: id });
    expect(events.at(-1)).toMatchObject({ type: 'session-end' });
  });

  it('--verify names the first broken chunk and fails (the built CLI)', async () => {
    const { sinkDir, id } = await recorded();
    const ok = await run(process.execPath, [cli, 'replay', sinkDir, '--verify']);
    expect(ok.stdout).toMatch(
      new RegExp(
        `^${id}: OK, 2 chunks, 14 events, sealed \\(client-closed\\), head sha256 [0-9a-f]{64}$`,
        'm',
      ),
    );
    expect(ok.code).toBe(0);
    await flipBits(join(sinkDir, id, '0000000000.jsonl.gz'), -12, 0x40);
    const bad = await run(process.execPath, [cli, 'replay', sinkDir, '--session', id, '--verify']);
    expect(bad.stdout).toMatch(
      new RegExp(
        `^${id}: BROKEN at chunk 0000000000\\.jsonl\\.gz: 0000000000\\.jsonl\\.gz is corrupt: `,
        'm',
      ),
    );
    expect(bad.code).toBe(1);
  });
});
