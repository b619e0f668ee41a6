/**
 * What recording costs per statement in prepared mode, in-process: the
 * messages of pgbench -S -M prepared (Bind, Describe, Execute, Sync; then
 * BindComplete, RowDescription, one DataRow, CommandComplete, ReadyForQuery)
 * fed through a SessionTap into a Recorder with a real spool and dir sink, as
 * the relay does. Reports the process CPU time (this thread plus the gzip and
 * file work of the threadpool) per statement, and spool bytes per statement.
 * Not a test, because timings depend on the machine. Run after
 * `pnpm exec tsc -b sidecar`:
 *
 *   node sidecar/test/record/record-cost.ts
 *
 * It imports the compiled modules because Node's type stripping cannot follow the
 * sources' ".js" import specifiers to ".ts" files.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingSettingsSchema } from '@pgwarden/crds';
import type { Recorder as RecorderInstance } from '../../dist/record/index.js';

// Another build to compare with (e.g. a copy of dist made before a change): RECORD_COST_DIST=sidecar/dist-before.
const dist = new URL(
  `../../${process.env.RECORD_COST_DIST?.replace(/^sidecar\//, '') ?? 'dist'}/`,
  import.meta.url,
);
const { BLANK_FACTS } = await import(new URL('analyze/facts.js', dist).href);
const { Recorder } = await import(new URL('record/index.js', dist).href);
const { SessionTap, tapUpstream } = await import(new URL('record/session-tap.js', dist).href);

const STATEMENTS = 20_000;
const PASSES = 10;
const TEXT = 'SELECT abalance FROM pgbench_accounts WHERE aid = $1;';

function message(code: string, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out[0] = code.charCodeAt(0);
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}
const cstr = (s: string) => Buffer.from(`${s}\0`);
const int16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

const parse = message('P', Buffer.concat([cstr('P0_1'), cstr(TEXT), int16(0)]));
const bind = (aid: number) => {
  const v = Buffer.from(String(aid));
  return message(
    'B',
    Buffer.concat([cstr(''), cstr('P0_1'), int16(0), int16(1), int32(v.length), v, int16(0)]),
  );
};
const describe = message('D', Buffer.concat([Buffer.from('P'), cstr('')]));
const execute = message('E', Buffer.concat([cstr(''), int32(0)]));
const sync = message('S', Buffer.alloc(0));
const parseComplete = message('1', Buffer.alloc(0));
const bindComplete = message('2', Buffer.alloc(0));
const rowDescription = message(
  'T',
  Buffer.concat([
    int16(1),
    cstr('abalance'),
    int32(16390),
    int16(3),
    int32(23),
    int16(4),
    int32(-1),
    int16(0),
  ]),
);
const dataRow = (n: number) => {
  const v = Buffer.from(String(n));
  return message('D', Buffer.concat([int16(1), int32(v.length), v]));
};
// Built before timing: what is measured is the recording, not making the messages.
// Every statement's values differ, as pgbench's random aid do: repeated values would flatter the compression.
const VARIANTS = STATEMENTS;
const binds = Array.from({ length: VARIANTS }, (_, i) => bind(1 + ((i * 7919) % 1_000_000)));
const dataRows = Array.from({ length: VARIANTS }, (_, i) => dataRow(((i * 104729) % 200_001) - 100_000));
const commandComplete = message('C', cstr('SELECT 1'));
const readyForQuery = message('Z', Buffer.from('I'));

const facts = {
  ...BLANK_FACTS,
  kind: 'read' as const,
  nodeType: 'SelectStmt',
  tablesRead: ['pgbench_accounts'],
};
const decision = { outcome: 'allow' as const, rule: 'reads', message: null, facts: [facts] };

const transparent = { onHeader: () => false, onMessage: () => undefined };

async function pass(recorder: RecorderInstance): Promise<{ cpuUs: number; spoolBytes: number }> {
  const session = recorder.sessionStart({
    clientAddress: '127.0.0.1:40000',
    policy: { name: 'bench', hash: 'b'.repeat(64) },
    upstream: { host: '127.0.0.1', port: 5432, database: 'bench', user: 'bench' },
  });
  const tap = new SessionTap(session);
  const upstream = tapUpstream(transparent as never, tap, null);
  const fromServer = (m: Buffer) => {
    if (upstream.onHeader(m[0] as number, m.length - 1)) upstream.onMessage(m[0] as number, m, 0, m.length);
  };
  const fromClient = (m: Buffer, verdict: unknown) =>
    tap.sent(m[0] as number, m, 0, m.length, verdict as never);
  fromClient(parse, decision);
  fromClient(sync, null);
  fromServer(parseComplete);
  fromServer(readyForQuery);
  const shippedBefore = recorder.stats().shippedBytes;
  const t0 = process.cpuUsage();
  for (let i = 0; i < STATEMENTS; i++) {
    fromClient(binds[i % VARIANTS] as Buffer, null);
    fromClient(describe, null);
    fromClient(execute, null);
    fromClient(sync, null);
    fromServer(bindComplete);
    fromServer(rowDescription);
    fromServer(dataRows[i % VARIANTS] as Buffer);
    fromServer(commandComplete);
    fromServer(readyForQuery);
    // A client waits for each answer, so chunks are written while it runs; a tight loop must wait
    // for them now and then, or it outruns the spool and the session drops events.
    if (i % 1000 === 999) await session.flush();
  }
  await tap.end('client-closed');
  await recorder.drained(60_000);
  const used = process.cpuUsage(t0);
  const stats = recorder.stats();
  if (stats.droppedEvents.overload > 0)
    throw new Error(`${stats.droppedEvents.overload} events dropped: the loop outran the spool`);
  return { cpuUs: (used.user + used.system) / STATEMENTS, spoolBytes: stats.shippedBytes - shippedBefore };
}

const root = await mkdtemp(join(tmpdir(), 'pgwarden-record-cost-'));
try {
  const recorder = await Recorder.open({
    settings: RecordingSettingsSchema.parse({ sink: { type: 'dir', path: join(root, 'sink') } }),
    spoolDir: join(root, 'spool'),
    sidecarVersion: 'record-cost',
  });
  const results: { cpuUs: number; spoolBytes: number }[] = [];
  for (let i = 0; i < PASSES + 1; i++) results.push(await pass(recorder));
  await recorder.close();
  // The first pass warms up the JIT; of the rest the fastest is the steadiest estimate.
  const measured = results.slice(1).sort((a, b) => a.cpuUs - b.cpuUs);
  const best = measured[0] as { cpuUs: number; spoolBytes: number };
  console.log(
    `prepared-mode statement, recorded: ${best.cpuUs.toFixed(1)} µs CPU per statement (fastest of ${PASSES} passes of ${STATEMENTS}; median ${(measured[Math.floor(measured.length / 2)] as { cpuUs: number }).cpuUs.toFixed(1)} µs), ${(best.spoolBytes / STATEMENTS).toFixed(1)} spool bytes per statement`,
  );
} finally {
  await rm(root, { recursive: true, force: true });
}
