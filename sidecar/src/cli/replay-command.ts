import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { RecordingEvent } from '@pgwarden/crds';
import { ConfigError } from '../config/config-error.js';
import { chunkSeqOf, decodeChunk } from '../record/chunk.js';
import { Transcript } from '../record/replay/transcript.js';
import { DirStore } from '../record/sinks/dir.js';
import { s3Credentials } from '../record/sinks/open.js';
import { parseS3Url, S3Store } from '../record/sinks/s3.js';
import type { RecordingStore } from '../record/sinks/sink.js';
import { ChainVerifier, type VerifyReport } from '../record/verify.js';

export function replayHelp(): string {
  return `Usage: pgwarden replay <dir | s3://bucket/prefix> [--session ID] [--verify] [--json] [--follow]

Reads session recordings from a sink directory or an S3-compatible bucket.
Without --session: lists the recordings. With --session ID (or "latest"):
prints the session as a timed transcript, result rows as tables, decisions
and approvals inline.

Options:
  --session ID      The recording to print; "latest" for the newest.
  --verify          Check every chunk (hash chain, sequence, seal) instead of
                    printing; names the first broken chunk. With --session,
                    only that recording.
  --json            Print events (with --session) or the list as JSON lines.
  --follow          With --session: keep printing new chunks as they arrive,
                    until the recording is sealed, or until interrupted
                    (SIGINT, Ctrl-C): then it says how far the chain is
                    intact and exits 0 if it is.
  --s3-endpoint URL S3-compatible endpoint (default: AWS S3).
  --s3-region NAME  Region to sign with (default us-east-1).
  --s3-path-style   Address the bucket in the path, as most S3-compatible stores need.

S3 credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and
AWS_SESSION_TOKEN), else the SDK's default chain.

Exit status: 0 when every recording read is intact (and sealed, for --verify);
1 when a chunk is broken, missing, or a verified recording is not sealed;
2 on bad arguments.
`;
}

export interface ReplayIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Poll interval of --follow. */
  followIntervalMs?: number;
  /** Ends --follow early (e.g. on SIGINT). */
  signal?: AbortSignal;
}

export async function runReplayCommand(
  argv: string[],
  io: ReplayIo = { out: process.stdout, err: process.stderr, env: process.env },
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      session: { type: 'string' },
      verify: { type: 'boolean' },
      json: { type: 'boolean' },
      follow: { type: 'boolean' },
      's3-endpoint': { type: 'string' },
      's3-region': { type: 'string' },
      's3-path-style': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.out.write(replayHelp());
    return 0;
  }
  if (positionals.length !== 1)
    throw new ConfigError('replay needs one <dir | s3://bucket/prefix>; see --help');
  if (values.follow && values.session === undefined) throw new ConfigError('--follow needs --session');
  const store = await openStore(positionals[0] as string, values, io.env);
  try {
    const ids = await store.listRecordings().catch((err: Error) => {
      throw new ConfigError(`cannot list recordings in ${store.description}: ${err.message}`);
    });
    if (values.session !== undefined) {
      const id = values.session === 'latest' ? ids.at(-1) : values.session;
      if (id === undefined || !ids.includes(id)) {
        throw new ConfigError(`no recording ${values.session} in ${store.description}`);
      }
      if (values.verify) return printReports([await verifyOne(store, id)], values.json === true, io);
      return await printSession(store, id, values.json === true, values.follow === true, io);
    }
    if (values.verify) {
      const reports: VerifyReport[] = [];
      for (const id of ids) reports.push(await verifyOne(store, id));
      return printReports(reports, values.json === true, io);
    }
    return await printList(store, ids, values.json === true, io);
  } finally {
    await store.close();
  }
}

async function openStore(
  location: string,
  flags: { 's3-endpoint'?: string; 's3-region'?: string; 's3-path-style'?: boolean },
  env: NodeJS.ProcessEnv,
): Promise<RecordingStore> {
  if (!location.startsWith('s3://')) return new DirStore(location);
  const s3 = parseS3Url(location);
  if (!s3) throw new ConfigError(`${location} is not s3://bucket[/prefix]`);
  return S3Store.create({
    ...s3,
    region: flags['s3-region'] ?? env.AWS_REGION ?? 'us-east-1',
    endpoint: flags['s3-endpoint'],
    pathStyle: flags['s3-path-style'] === true,
    credentials: s3Credentials(
      {
        accessKeyIdEnv: 'AWS_ACCESS_KEY_ID',
        secretAccessKeyEnv: 'AWS_SECRET_ACCESS_KEY',
        sessionTokenEnv: 'AWS_SESSION_TOKEN',
      },
      env,
    ),
    multipartThresholdBytes: Number.POSITIVE_INFINITY,
    partSizeBytes: 8 * 1024 ** 2,
  });
}

async function verifyOne(store: RecordingStore, id: string): Promise<VerifyReport> {
  const verifier = new ChainVerifier(id);
  for (const name of await store.listChunks(id)) {
    if ((await verifier.push(name, await store.readChunk(id, name))) === null) break;
  }
  return verifier.report();
}

function printReports(reports: VerifyReport[], json: boolean, io: ReplayIo): number {
  for (const r of reports) {
    if (json) {
      io.out.write(`${JSON.stringify(r)}\n`);
    } else if (r.ok) {
      io.out.write(
        `${r.recordingId}: OK, ${r.chunks} chunks, ${r.events} events, sealed (${r.endReason}), head sha256 ${r.headSha256}\n`,
      );
    } else {
      const b = r.broken as NonNullable<VerifyReport['broken']>;
      io.out.write(`${r.recordingId}: BROKEN at chunk ${b.chunk}: ${b.chunk} ${b.reason}\n`);
    }
  }
  return reports.every((r) => r.ok) ? 0 : 1;
}

/** Prints the transcript (or events) while verifying; --follow polls for chunks until the seal. */
async function printSession(
  store: RecordingStore,
  id: string,
  json: boolean,
  follow: boolean,
  io: ReplayIo,
): Promise<number> {
  const verifier = new ChainVerifier(id);
  const transcript = new Transcript();
  const print = (events: RecordingEvent[]) => {
    for (const e of events) {
      io.out.write(json ? `${JSON.stringify(e)}\n` : `${transcript.lines(e).join('\n')}\n`);
    }
  };
  for (;;) {
    const names = (await store.listChunks(id)).filter((n) => (chunkSeqOf(n) ?? -1) >= verifier.chunks);
    for (const name of names) {
      const decoded = await verifier.push(name, await store.readChunk(id, name));
      if (decoded === null) break;
      print(decoded.events);
    }
    const report = verifier.report();
    // Intact but not sealed yet: the session may still be running.
    const open = !report.sealed && verifier.broken === null;
    if (open && follow && io.signal?.aborted) {
      if (!json) {
        io.out.write(
          `\n-- stopped following: chain intact so far: ${report.chunks} chunks, ${report.events} events, not sealed yet\n`,
        );
      }
      return 0;
    }
    if (!open || !follow) return finish(report, json, io);
    await sleep(io.followIntervalMs ?? 500, undefined, { signal: io.signal }).catch(() => {});
  }
}

function finish(report: VerifyReport, json: boolean, io: ReplayIo): number {
  if (report.ok) {
    if (!json) io.out.write(`\n-- chain intact: ${report.chunks} chunks, ${report.events} events, sealed\n`);
    return 0;
  }
  const b = report.broken as NonNullable<VerifyReport['broken']>;
  io.err.write(`pgwarden replay: ${report.recordingId}: chunk ${b.chunk} ${b.reason}\n`);
  return 1;
}

interface ListRow {
  recordingId: string;
  startedAt: string | null;
  client: string | null;
  policy: string | null;
  chunks: number;
  end: string;
}

async function printList(store: RecordingStore, ids: string[], json: boolean, io: ReplayIo): Promise<number> {
  const rows: ListRow[] = [];
  for (const id of ids) rows.push(await summarize(store, id));
  if (json) {
    for (const r of rows) io.out.write(`${JSON.stringify(r)}\n`);
    return 0;
  }
  const table = [['RECORDING', 'STARTED', 'CLIENT', 'POLICY', 'CHUNKS', 'END']];
  for (const r of rows) {
    table.push([
      r.recordingId,
      r.startedAt ?? '?',
      r.client ?? '?',
      r.policy ?? '?',
      String(r.chunks),
      r.end,
    ]);
  }
  const widths = (table[0] as string[]).map((_, i) =>
    Math.max(...table.map((row) => (row[i] as string).length)),
  );
  for (const row of table)
    io.out.write(
      `${row
        .map((c, i) => c.padEnd(widths[i] as number))
        .join('  ')
        .trimEnd()}\n`,
    );
  if (rows.length === 0) io.out.write(`(no recordings in ${store.description})\n`);
  return 0;
}

/** From the first and last chunk only: listing must not read whole recordings. */
async function summarize(store: RecordingStore, id: string): Promise<ListRow> {
  const names = await store.listChunks(id);
  const row: ListRow = {
    recordingId: id,
    startedAt: null,
    client: null,
    policy: null,
    chunks: names.length,
    end: 'open',
  };
  const first = names[0];
  if (first === undefined) return row;
  try {
    const start = (await decodeChunk(await store.readChunk(id, first))).events[0];
    if (start?.type === 'session-start') {
      row.startedAt = start.at;
      row.client = start.pod ? `${start.pod.namespace}/${start.pod.name}` : start.clientAddress;
      row.policy = start.policy.name;
    }
    const last = names.at(-1) as string;
    const end = (await decodeChunk(await store.readChunk(id, last))).events.at(-1);
    if (end?.type === 'session-end') row.end = end.reason;
  } catch {
    row.end = 'corrupt (run --verify)';
  }
  return row;
}
