import { randomBytes } from 'node:crypto';
import {
  parseByteSize,
  parseDurationMs,
  type RecordingEvent,
  type RecordingSettings,
  SessionStartEventSchema,
} from '@pgwarden/crds';
import type { Logger } from '../observe/log.js';
import { type BackoffOptions, DEFAULT_BACKOFF } from './backoff.js';
import { type EncodedChunk, encodeChunk } from './chunk.js';
import {
  invalidSessionStart,
  type RecordingRefusal,
  type RefusalCause,
  recorderClosed,
  spoolFull,
  writeFailed,
} from './refusal.js';
import { scrubNullable } from './scrub.js';
import {
  type DropReason,
  type RecorderLimits,
  type SessionHost,
  SessionRecorder,
} from './session-recorder.js';
import { Shipper, type ShipperStats } from './shipper.js';
import { openSink } from './sinks/open.js';
import type { ChunkSink } from './sinks/sink.js';
import { Spool, type SpoolHead } from './spool.js';

export interface RecorderOptions {
  settings: RecordingSettings;
  /** Local spool directory (emptyDir or PVC); one sidecar per directory. */
  spoolDir: string;
  sidecarVersion: string;
  log?: Logger;
  /** Overrides the sink built from settings.sink. */
  sink?: ChunkSink;
  /** Where S3 credentials are read from; process.env by default. */
  env?: NodeJS.ProcessEnv;
  backoff?: BackoffOptions;
}

/** What the proxy knows at session start. Anything else passed in is dropped, never recorded. */
export interface SessionStartInput {
  pod?: { namespace: string; name: string } | null;
  serviceAccount?: string | null;
  clientAddress?: string | null;
  clientUser?: string | null;
  applicationName?: string | null;
  policy: { name: string; hash: string };
  /** The upstream as host, port, database and user; a password here is dropped. */
  upstream: { host: string; port: number; database: string; user: string };
}

export interface RecorderStats extends ShipperStats {
  /** The sink's type (`dir`, `s3`). */
  sink: string;
  spoolBytes: number;
  spoolCapBytes: number;
  spoolChunks: number;
  /** Seconds since the oldest chunk still in the spool was written; 0 when the spool is empty. */
  oldestChunkAgeSeconds: number;
  openSessions: number;
  orphansSealed: number;
  /** Statements answered with the recorder's error instead of running, by cause. */
  refusedStatements: Record<RefusalCause, number>;
  /** Events not recorded (each session's gap events say where), by reason. */
  droppedEvents: Record<DropReason, number>;
}

/**
 * The recording side of a sidecar: the spool, the shipper to the sink, and one
 * SessionRecorder per client session. Open it once at startup (it seals what
 * a crashed predecessor left and starts shipping), call sessionStart per
 * connection, check refusal() before each statement, close() on shutdown.
 */
export class Recorder {
  private readonly sessions = new Set<SessionRecorder>();
  private readonly overloadedSessions = new Set<SessionRecorder>();
  private readonly stop = new AbortController();
  private lastWriteError: string | null = null;
  private giveUp = false;
  private closed = false;
  /** failClosed off: the spool is full and events wait in memory; logged once per episode. */
  private spoolFullEpisode = false;
  private readonly refused: Record<RefusalCause, number> = {
    'spool-full': 0,
    'write-failed': 0,
    overload: 0,
    closed: 0,
    'invalid-session': 0,
  };
  private readonly dropped: Record<DropReason, number> = { 'spool-full': 0, overload: 0 };
  private readonly timer: NodeJS.Timeout;
  private readonly host: SessionHost;

  private constructor(
    private readonly options: RecorderOptions,
    readonly limits: RecorderLimits,
    private readonly spool: Spool,
    private readonly sink: ChunkSink,
    private readonly shipper: Shipper,
    private readonly orphansSealed: number,
  ) {
    this.host = this.makeHost();
    const interval = parseDurationMs(options.settings.flushInterval) ?? 1000;
    this.timer = setInterval(() => this.flushAll(), interval);
    this.timer.unref();
  }

  static async open(options: RecorderOptions): Promise<Recorder> {
    const s = options.settings;
    const chunkBytes = parseByteSize(s.chunkSize) as number;
    const limits: RecorderLimits = {
      includeRows: s.includeRows,
      rowCap: s.includeRows ? s.rowCapPerStatement : 0,
      rowBytes: parseByteSize(s.rowBytesPerStatement) as number,
      chunkBytes,
      maxPendingBytes: Math.max(4 * chunkBytes, 4 * 1024 ** 2),
      failClosed: s.failClosed,
    };
    const { spool, orphans } = await Spool.open(options.spoolDir, parseByteSize(s.spoolCap) as number);
    for (const head of orphans) await sealInterrupted(spool, head);
    if (orphans.length > 0) {
      options.log?.warn(
        { recordings: orphans.map((h) => h.recordingId) },
        'sealed recordings left open by a previous sidecar as interrupted',
      );
    }
    const sink = options.sink ?? (await openSink(s.sink, options.env));
    const shipper = new Shipper(spool, sink, options.log, options.backoff ?? DEFAULT_BACKOFF);
    shipper.start();
    return new Recorder(options, limits, spool, sink, shipper, orphans.length);
  }

  /** Starts recording a client session. Never throws; the session is inert if the start cannot be recorded. */
  sessionStart(input: SessionStartInput): SessionRecorder {
    const session = new SessionRecorder(newRecordingId(), this.host);
    if (this.closed) {
      void session.sessionEnd('shutdown');
      return session;
    }
    this.sessions.add(session);
    const event = {
      type: 'session-start' as const,
      recordingId: session.recordingId,
      sidecarVersion: this.options.sidecarVersion,
      pod: input.pod ? { namespace: String(input.pod.namespace), name: String(input.pod.name) } : null,
      serviceAccount: input.serviceAccount ?? null,
      clientAddress: scrubNullable(input.clientAddress),
      clientUser: input.clientUser ?? null,
      applicationName: scrubNullable(input.applicationName),
      policy: { name: String(input.policy?.name), hash: String(input.policy?.hash) },
      upstream: {
        host: scrubNullable(String(input.upstream?.host)) as string,
        port: Number(input.upstream?.port),
        database: String(input.upstream?.database),
        user: String(input.upstream?.user),
      },
      rows: { included: this.limits.includeRows, capPerStatement: this.limits.rowCap },
    };
    const dropped = unknownFields(input);
    if (dropped.length > 0) {
      this.options.log?.warn(
        { recording: session.recordingId, fields: dropped },
        'session-start fields not in the recording schema were dropped',
      );
    }
    const valid = SessionStartEventSchema.omit({ seq: true, at: true }).safeParse(event);
    if (!valid.success) {
      const issue = valid.error.issues[0];
      const reason = `${issue?.path.join('.')}: ${issue?.message}`;
      this.internalError(new Error(`invalid session start: ${reason}`), 'sessionStart');
      session.fail(invalidSessionStart(reason));
      return session;
    }
    session.start(valid.data);
    return session;
  }

  /** Null when statements may run; else the refusal every session reports (fail closed). */
  refusal(): RecordingRefusal | null {
    if (this.closed) return recorderClosed();
    if (!this.limits.failClosed) return null;
    if (this.spool.full) return spoolFull(this.spool.bytes, this.spool.capBytes, this.sink.description);
    if (this.lastWriteError !== null) return writeFailed(this.lastWriteError);
    return null;
  }

  stats(): RecorderStats {
    const oldest = this.spool.oldestWrittenAt();
    return {
      ...this.shipper.stats,
      sink: this.options.settings.sink.type,
      spoolBytes: this.spool.bytes,
      spoolCapBytes: this.spool.capBytes,
      spoolChunks: this.spool.pendingChunks,
      oldestChunkAgeSeconds: oldest === null ? 0 : Math.max(0, Date.now() - oldest) / 1000,
      openSessions: this.sessions.size,
      orphansSealed: this.orphansSealed,
      refusedStatements: { ...this.refused },
      droppedEvents: { ...this.dropped },
    };
  }

  /** Writes every session's buffered events to the spool (fsync'd). */
  async flush(): Promise<void> {
    await Promise.all([...this.sessions].map((s) => s.flush()));
  }

  /** Resolves true once the spool is empty (everything shipped), false at the deadline. */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.spool.pendingChunks > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  }

  /**
   * Graceful shutdown: seals every open session (reason `shutdown`), writes
   * the final chunks, gives the shipper until shipTimeoutMs to empty the
   * spool, then stops. What is left in the spool ships at the next start.
   */
  async close(options: { shipTimeoutMs?: number } = {}): Promise<{ shipped: boolean }> {
    if (this.closed) return { shipped: this.spool.pendingChunks === 0 };
    this.closed = true;
    clearInterval(this.timer);
    const deadline = Date.now() + (options.shipTimeoutMs ?? 10_000);
    const seals = [...this.sessions].map((s) => s.sessionEnd('shutdown'));
    const sealed = await Promise.race([
      Promise.all(seals).then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), Math.max(0, deadline - Date.now())).unref()),
    ]);
    if (!sealed) this.giveUp = true;
    const shipped = await this.drained(Math.max(0, deadline - Date.now()));
    this.giveUp = true;
    this.stop.abort();
    await this.shipper.stop(Math.max(100, deadline - Date.now()));
    await Promise.allSettled(seals);
    await this.sink.close();
    await this.spool.close();
    if (!shipped) {
      this.options.log?.warn(
        { chunks: this.spool.pendingChunks, bytes: this.spool.bytes },
        'recording chunks left in the spool; they ship at the next start',
      );
    }
    return { shipped };
  }

  private flushAll(): void {
    this.spoolAccepting();
    for (const s of this.sessions) void s.flush();
  }

  /**
   * With failClosed off a full spool does not stop statements: events wait in
   * memory (bounded per session), then drop. Said once when that starts and
   * once when the spool is under its cap again, not per statement.
   */
  private spoolAccepting(): boolean {
    if (this.limits.failClosed) return true;
    const full = this.spool.full;
    if (full !== this.spoolFullEpisode) {
      this.spoolFullEpisode = full;
      const where = {
        spoolBytes: this.spool.bytes,
        spoolCapBytes: this.spool.capBytes,
        sink: this.sink.description,
      };
      if (full) {
        this.options.log?.warn(
          where,
          'recording spool is full; statements run on (failClosed: false) and their events wait in memory, then are dropped, until it drains',
        );
      } else this.options.log?.info(where, 'recording spool drained below its cap; events are written again');
    }
    return !full;
  }

  private internalError(err: unknown, where: string): void {
    this.options.log?.error({ err: (err as Error)?.message ?? String(err), where }, 'session recorder error');
  }

  private makeHost(): SessionHost {
    return {
      limits: this.limits,
      stopping: this.stop.signal,
      spoolAccepting: () => this.spoolAccepting(),
      writeChunk: (chunk: EncodedChunk, head: SpoolHead) => this.spool.writeChunk(chunk, head),
      writeSucceeded: () => {
        this.lastWriteError = null;
      },
      writeFailed: (err) => {
        const first = this.lastWriteError === null;
        this.lastWriteError = (err as Error)?.message ?? String(err);
        if (first)
          this.options.log?.error({ err: this.lastWriteError }, 'cannot write recording chunk to the spool');
      },
      abandoning: () => this.giveUp,
      refusal: () => this.refusal(),
      overloaded: (session, on) => {
        if (on) this.overloadedSessions.add(session);
        else this.overloadedSessions.delete(session);
      },
      eventDropped: (reason) => {
        this.dropped[reason] += 1;
      },
      refused: (refusal) => {
        this.refused[refusal.cause] += 1;
      },
      internalError: (err, where) => this.internalError(err, where),
      ended: (session) => {
        this.sessions.delete(session);
        this.overloadedSessions.delete(session);
      },
    };
  }
}

/** Sorts by start time; the random part keeps ids unique across sidecars writing to one bucket. */
export function newRecordingId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('.', '');
  return `${stamp}-${randomBytes(6).toString('hex')}`;
}

/** Appends the session-end a crashed sidecar never wrote, continuing the chain from the spool's head. */
async function sealInterrupted(spool: Spool, head: SpoolHead): Promise<void> {
  const at = new Date().toISOString();
  const end: RecordingEvent = {
    seq: head.nextEvent,
    at,
    type: 'session-end',
    reason: 'interrupted',
    message: 'the sidecar stopped without ending the session; events not yet written to the spool are lost',
    totals: head.totals,
  };
  const chunk = await encodeChunk({
    recordingId: head.recordingId,
    seq: head.seq + 1,
    firstEvent: head.nextEvent,
    prevSha256: head.sha256,
    final: true,
    firstAt: at,
    lastAt: at,
    events: 1,
    body: Buffer.from(`${JSON.stringify(end)}\n`),
  });
  await spool.writeChunk(chunk, {
    ...head,
    seq: head.seq + 1,
    sha256: chunk.sha256,
    nextEvent: head.nextEvent + 1,
    lastAt: at,
    sealed: true,
  });
}

const START_FIELDS = new Set([
  'pod',
  'serviceAccount',
  'clientAddress',
  'clientUser',
  'applicationName',
  'policy',
  'upstream',
]);
const NESTED_FIELDS: Readonly<Record<string, ReadonlySet<string>>> = {
  pod: new Set(['namespace', 'name']),
  policy: new Set(['name', 'hash']),
  upstream: new Set(['host', 'port', 'database', 'user']),
};

/** Names (never values) of the fields the recording does not take, e.g. ["upstream.password"]. */
function unknownFields(input: SessionStartInput): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(input)) {
    if (!START_FIELDS.has(key)) {
      out.push(key);
      continue;
    }
    const nested = NESTED_FIELDS[key];
    if (nested && value && typeof value === 'object') {
      for (const k of Object.keys(value)) if (!nested.has(k)) out.push(`${key}.${k}`);
    }
  }
  return out;
}
