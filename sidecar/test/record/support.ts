import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { type RecordingSettings, type RecordingSettingsInput, RecordingSettingsSchema } from '@pgwarden/crds';
import { afterEach } from 'vitest';
import { runReplayCommand } from '../../src/cli/replay-command.js';
import type { SessionRecorder, SessionStartInput } from '../../src/record/index.js';
import type { RecordingStore } from '../../src/record/sinks/sink.js';
import { ChainVerifier, type VerifyReport } from '../../src/record/verify.js';

export const POLICY_HASH = 'a'.repeat(64);

export function settings(
  input: Partial<RecordingSettingsInput> & Pick<RecordingSettingsInput, 'sink'>,
): RecordingSettings {
  return RecordingSettingsSchema.parse({ flushInterval: '50ms', ...input });
}

export const START: SessionStartInput = {
  pod: { namespace: 'agents', name: 'agent-0' },
  serviceAccount: 'agent',
  clientAddress: '127.0.0.1:50432',
  clientUser: 'agent',
  applicationName: 'psql',
  policy: { name: 'analytics', hash: POLICY_HASH },
  upstream: { host: 'db.internal', port: 5432, database: 'app', user: 'pgwarden_app' },
};

/** Temp directories removed after each test. */
export function tempDirs(): () => Promise<string> {
  const made: string[] = [];
  afterEach(async () => {
    await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgwarden-record-'));
    made.push(dir);
    return dir;
  };
}

/** XORs the byte at `offset` of the file at `path` (negative: from the end) with `mask`. */
export async function flipBits(path: string, offset: number, mask: number): Promise<void> {
  const bytes = await readFile(path);
  const at = offset < 0 ? bytes.length + offset : offset;
  bytes.writeUInt8(bytes.readUInt8(at) ^ mask, at);
  await writeFile(path, bytes);
}

/** One SELECT with masked rows, one denied DELETE: the events a proxy would record. */
export function recordSample(s: SessionRecorder, n = 1): void {
  for (let i = 0; i < n; i++) {
    const q = s.statement({ protocol: 'simple', text: 'SELECT id, email FROM users ORDER BY id LIMIT 2' });
    s.decision(q, {
      outcome: 'allow',
      rule: 'read-users',
      facts: {
        kind: 'read',
        tablesRead: ['users'],
        tablesWritten: [],
        functions: [],
        locksRows: false,
        settings: [],
      },
    });
    s.columns(q, [
      { name: 'id', typeOid: 23, masked: false },
      { name: 'email', typeOid: 25, masked: true },
    ]);
    s.rows(q, [
      ['1', 'a***@example.com'],
      ['2', null],
    ]);
    s.result(q, { commandTag: 'SELECT 2', rows: 2, durationMs: 1.25, bytes: 64 });
    const d = s.statement({
      protocol: 'extended',
      text: 'DELETE FROM users WHERE id = $1',
      parameters: ['7'],
    });
    s.decision(d, { outcome: 'deny', rule: 'no-deletes', message: 'deleting is not allowed' });
    s.error({
      statementId: d,
      source: 'pgwarden',
      severity: 'ERROR',
      code: '42501',
      message: 'pgwarden: denied',
    });
  }
}

export async function verifyStored(store: RecordingStore, id: string): Promise<VerifyReport> {
  const v = new ChainVerifier(id);
  for (const name of await store.listChunks(id)) {
    if ((await v.push(name, await store.readChunk(id, name))) === null) break;
  }
  return v.report();
}

/** Runs `pgwarden replay` in-process and collects what it prints. */
export async function replay(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d) => (o += d));
  err.on('data', (d) => (e += d));
  const code = await runReplayCommand(args, { out, err, env });
  return { code, out: o, err: e };
}
