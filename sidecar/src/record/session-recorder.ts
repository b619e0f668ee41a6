import type {
  APPROVAL_PHASES,
  RecordedColumn,
  RecordedFacts,
  RecordingEvent,
  SessionEndReason,
  SessionTotals,
  STATEMENT_PROTOCOLS,
  StatementKind,
} from '@pgwarden/crds';
import { backoffDelay, pause } from './backoff.js';
import { type EncodedChunk, encodeChunk } from './chunk.js';
import type { RecordingRefusal } from './refusal.js';
import { scrubCredentials, scrubNullable } from './scrub.js';
import type { SpoolHead } from './spool.js';
import { countEvent, emptyTotals } from './totals.js';

/** A parameter or cell as text, already masked by the proxy; null is SQL NULL. */
export type Cell = string | null;

export interface StatementInput {
  text: string;
  protocol: (typeof STATEMENT_PROTOCOLS)[number];
  /** Named prepared statement; omitted or null for the unnamed one. */
  preparedName?: string | null;
  /** Bind parameters as text, post-mask. */
  parameters?: readonly Cell[];
}

/** The classifier's facts, structurally (sidecar/src/analyze/facts.ts StatementFacts fits). */
export interface FactsInput {
  kind: StatementKind;
  tablesRead: readonly string[];
  tablesWritten: readonly string[];
  functions: readonly string[];
  locksRows: boolean;
  settings: readonly { name: string }[];
}

export interface DecisionInput {
  outcome: 'allow' | 'deny' | 'approve';
  rule: string;
  message?: string | null;
  facts?: FactsInput | null;
}

export interface ResultInput {
  commandTag: string | null;
  rows: number;
  durationMs: number;
  bytes: number;
}

export interface MessageInput {
  statementId?: number | null;
  source: 'upstream' | 'pgwarden';
  severity: string;
  code: string;
  message: string;
  detail?: string | null;
  hint?: string | null;
}

export interface ApprovalInput {
  phase: (typeof APPROVAL_PHASES)[number];
  request?: string | null;
  approver?: string | null;
  reason?: string | null;
}

export interface RecorderLimits {
  includeRows: boolean;
  rowCap: number;
  rowBytes: number;
  chunkBytes: number;
  /** Events buffered or being written per session before further ones are dropped. */
  maxPendingBytes: number;
  failClosed: boolean;
}

/** What a session needs from the process-wide recorder. */
export interface SessionHost {
  readonly limits: RecorderLimits;
  readonly stopping: AbortSignal;
  /** False while the spool is full and failClosed is off: events wait in memory (bounded), then drop. */
  spoolAccepting(): boolean;
  writeChunk(chunk: EncodedChunk, head: SpoolHead): Promise<void>;
  writeSucceeded(): void;
  writeFailed(err: unknown): void;
  /** Set while close() has given up on writes that keep failing. */
  abandoning(): boolean;
  refusal(): RecordingRefusal | null;
  overloaded(session: SessionRecorder, on: boolean): void;
  /** An event was not recorded: the session's buffer was full (a gap event reports it later). */
  eventDropped(reason: DropReason): void;
  /** The session answered a statement with this refusal instead of running it. */
  refused(refusal: RecordingRefusal): void;
  internalError(err: unknown, where: string): void;
  ended(session: SessionRecorder): void;
}

interface PendingRows {
  statementId: number;
  columns: RecordedColumn[];
  rows: Cell[][];
  bytes: number;
  /** The byte budget ran out: no more rows for this result. */
  full: boolean;
}

const WRITE_RETRY = { baseMs: 50, maxMs: 5_000 };
const BODY_START_BYTES = 16 * 1024;

/** A decision's JSON after its statementId, by input object: the proxy passes one object per prepared statement. */
const DECISION_JSON = new WeakMap<DecisionInput, string>();

/** Why events were dropped: the spool was full (failClosed off) or the spool could not keep up. */
export type DropReason = 'spool-full' | 'overload';

/**
 * The recording of one client session. Every method returns at once and never
 * throws: events are serialized into an in-memory buffer that becomes a chunk
 * when it reaches the chunk size, on the recorder's flush tick, and at
 * sessionEnd. Chunks are written one after another (each names its
 * predecessor's hash). Memory per session is bounded by maxPendingBytes plus
 * one result's rows (rowBytes); beyond it events are dropped and a gap event
 * says how many, and the session refuses statements while failClosed is on.
 */
export class SessionRecorder {
  private nextSeq = 0;
  private nextStatement = 1;
  /**
   * The events not yet cut into a chunk, as UTF-8 lines each ending in "\n"
   * (bufferedBytes of it used); null when there are none. Written as each
   * event is recorded, so its string dies young instead of waiting for the cut.
   */
  private body: Buffer | null = null;
  private bodyEvents = 0;
  /** Size of the last chunk's events: where the next body starts, so it rarely grows. */
  private bodyHint = 0;
  private bufferedBytes = 0;
  private inflightBytes = 0;
  private chunkFirstEvent = 0;
  private firstAt = '';
  private lastAt = '';
  private chunkSeq = 0;
  private prevSha: string | null = null;
  private tail: Promise<void> = Promise.resolve();
  private readonly totals: SessionTotals = emptyTotals();
  private pendingRows: PendingRows | null = null;
  private dropped = 0;
  private dropReason: DropReason = 'overload';
  private isOverloaded = false;
  private ended = false;
  private failure: RecordingRefusal | null = null;
  /** The last statement text and its JSON (scrubbed): a prepared statement's Executes bring the same text. */
  private lastText: string | null = null;
  private lastTextJson = '';

  constructor(
    readonly recordingId: string,
    private readonly host: SessionHost,
  ) {}

  /** True once sessionEnd was called (or the recorder closed the session). */
  get isEnded(): boolean {
    return this.ended;
  }

  /**
   * Null when the next statement may run; otherwise the error the proxy sends
   * instead of running it (the spool is full, writes fail, this session's
   * events are being dropped). Always null with failClosed off.
   */
  refusal(): RecordingRefusal | null {
    const refusal = this.currentRefusal();
    if (refusal !== null) this.host.refused(refusal);
    return refusal;
  }

  private currentRefusal(): RecordingRefusal | null {
    if (this.failure) return this.failure;
    const global = this.host.refusal();
    if (global || !this.host.limits.failClosed || !this.isOverloaded) return global;
    return {
      cause: 'overload',
      code: '53400',
      message: 'pgwarden: the session recording cannot keep up; statement refused',
      hint: 'Retry shortly; the recording is catching up.',
    };
  }

  /** Nothing of this session can be recorded: it records nothing and refuses every statement. */
  fail(refusal: RecordingRefusal): void {
    this.failure = refusal;
    this.ended = true;
    this.host.ended(this);
  }

  /** Records the session start; the recorder calls it once, before returning the session. */
  start(event: Omit<Extract<RecordingEvent, { type: 'session-start' }>, 'seq' | 'at'>): void {
    this.guard('sessionStart', () => this.push(event));
  }

  /** Records a statement the client sent; returns its id for the events that follow (0 if recording failed). */
  statement(input: StatementInput): number {
    const id = this.nextStatement++;
    this.guard('statement', () => {
      const text = String(input.text);
      if (text !== this.lastText) {
        this.lastText = text;
        this.lastTextJson = JSON.stringify(scrubCredentials(text));
      }
      const name = input.preparedName ?? null;
      const parameters = input.parameters ?? [];
      if (!this.admit(false)) return;
      this.totals.statements += 1;
      this.append(
        `"type":"statement","statementId":${id},"protocol":${JSON.stringify(input.protocol)},"text":${this.lastTextJson},"preparedName":${name === null ? 'null' : JSON.stringify(String(name))},"parameters":${parameters.length === 0 ? '[]' : JSON.stringify(parameters.map(cell))}}`,
      );
      this.cutWhenFull();
    });
    return id;
  }

  /** `input` is read once: the same object recorded again (a prepared statement's decision) reuses its JSON. */
  decision(statementId: number, input: DecisionInput): void {
    this.guard('decision', () => {
      let rest = DECISION_JSON.get(input);
      if (rest === undefined) {
        rest = JSON.stringify({
          outcome: input.outcome,
          rule: String(input.rule),
          message: scrubNullable(input.message),
          facts: input.facts ? recordedFacts(input.facts) : null,
        }).slice(1);
        DECISION_JSON.set(input, rest);
      }
      if (!this.admit(false)) return;
      if (input.outcome === 'deny') this.totals.denied += 1;
      this.append(`"type":"decision","statementId":${statementId},${rest}`);
      this.cutWhenFull();
    });
  }

  /** The columns of a result about to stream (RowDescription). Ends the rows of any previous result. */
  columns(statementId: number, columns: readonly RecordedColumn[]): void {
    this.guard('columns', () => {
      // The same result described again before its first row (a Describe after Bind): replace, not a new result.
      const p = this.pendingRows;
      if (p !== null && p.statementId === statementId && p.rows.length === 0 && !p.full)
        this.pendingRows = null;
      this.emitRows(null);
      if (!this.host.limits.includeRows) return;
      this.pendingRows = {
        statementId,
        columns: columns.map((c) => ({
          name: String(c.name),
          typeOid: count(c.typeOid),
          masked: c.masked === true,
        })),
        rows: [],
        bytes: 0,
        full: false,
      };
    });
  }

  /**
   * Whether rows of this result are still recorded: lets the proxy skip
   * turning DataRows into text once the cap is reached.
   */
  wantsRows(statementId: number): boolean {
    const p = this.pendingRows;
    return p !== null && p.statementId === statementId && !p.full && p.rows.length < this.host.limits.rowCap;
  }

  /** The proxy changed these columns (by index) in rows of the pending result: they are shown as masked. */
  maskedColumns(statementId: number, indexes: readonly number[]): void {
    this.guard('maskedColumns', () => {
      const p = this.pendingRows;
      if (p === null || p.statementId !== statementId) return;
      for (const i of indexes) {
        const column = p.columns[i];
        if (column) column.masked = true;
      }
    });
  }

  /** Result rows as the client receives them (post-mask). Rows past the cap are not kept; result() counts them. */
  rows(statementId: number, batch: readonly (readonly Cell[])[]): void {
    this.guard('rows', () => {
      const p = this.pendingRows;
      if (p === null || p.statementId !== statementId) return;
      const { rowCap, rowBytes } = this.host.limits;
      for (const row of batch) {
        if (p.full || p.rows.length >= rowCap) return;
        const kept = row.map(cell);
        let size = 8;
        for (const v of kept) size += v === null ? 4 : v.length + 4;
        if (p.bytes + size > rowBytes) {
          p.full = true;
          return;
        }
        p.bytes += size;
        p.rows.push(kept);
      }
    });
  }

  /**
   * Ends the kept rows of the pending result when the result's row count is
   * not what was offered to rows(): COPY … TO offers every line, its header
   * line included, while its command tag counts table rows.
   */
  endRows(statementId: number, offered: number): void {
    this.guard('endRows', () => {
      if (this.pendingRows?.statementId === statementId) this.emitRows(count(offered));
    });
  }

  /** The statement completed (CommandComplete, or an error ended it): summary after its rows. */
  result(statementId: number, input: ResultInput): void {
    this.guard('result', () => {
      const rows = count(input.rows);
      if (this.pendingRows?.statementId === statementId) this.emitRows(rows);
      const duration = Number(input.durationMs);
      const tag = input.commandTag === null ? 'null' : JSON.stringify(String(input.commandTag));
      if (!this.admit(false)) return;
      this.totals.rows += rows;
      this.append(
        `"type":"result","statementId":${statementId},"commandTag":${tag},"rows":${rows},"durationMs":${Number.isFinite(duration) && duration > 0 ? Math.round(duration * 1000) / 1000 : 0},"bytes":${count(input.bytes)}}`,
      );
      this.cutWhenFull();
    });
  }

  /** An ErrorResponse sent to the client, post-mask. */
  error(input: MessageInput): void {
    this.guard('error', () => this.push({ type: 'error', ...message(input) }));
  }

  /** A NoticeResponse sent to the client, post-mask. */
  notice(input: MessageInput): void {
    this.guard('notice', () => this.push({ type: 'notice', ...message(input) }));
  }

  approval(statementId: number, input: ApprovalInput): void {
    this.guard('approval', () =>
      this.push({
        type: 'approval',
        statementId,
        phase: input.phase,
        request: input.request ?? null,
        approver: input.approver ?? null,
        reason: scrubNullable(input.reason),
      }),
    );
  }

  /** The session moved to another policy; the decisions recorded after this were made under it. */
  policyChange(policy: { name: string; hash: string }): void {
    this.guard('policyChange', () =>
      this.push({ type: 'policy-change', policy: { name: policy.name, hash: policy.hash } }),
    );
  }

  /**
   * Seals the recording: the session-end event goes into a final chunk. Only
   * the first call counts. The returned promise resolves once the final chunk
   * is in the spool; the proxy need not wait for it.
   */
  sessionEnd(reason: SessionEndReason, message?: string | null): Promise<void> {
    if (this.ended) return this.tail;
    this.ended = true;
    try {
      this.emitRows(null);
      this.push(
        { type: 'session-end', reason, message: scrubNullable(message), totals: { ...this.totals } },
        true,
      );
      const done = this.cut(true);
      done.then(
        () => this.host.ended(this),
        () => this.host.ended(this),
      );
      return done;
    } catch (err) {
      this.host.internalError(err, 'sessionEnd');
      this.host.ended(this);
      return Promise.resolve();
    }
  }

  /** Writes what is buffered as a chunk; resolves once every event so far is fsync'd in the spool. */
  flush(): Promise<void> {
    if (this.bodyEvents > 0 && this.host.spoolAccepting()) return this.cut(false);
    return this.tail;
  }

  private guard(where: string, record: () => void): void {
    if (this.ended) return;
    try {
      record();
    } catch (err) {
      this.host.internalError(err, where);
    }
  }

  /** The kept rows of the pending result as one event; `total` is the result's row count when known. */
  private emitRows(total: number | null): void {
    const p = this.pendingRows;
    if (p === null) return;
    this.pendingRows = null;
    const omittedRows = Math.max(0, (total ?? p.rows.length) - p.rows.length);
    this.push({
      type: 'rows',
      statementId: p.statementId,
      columns: p.columns,
      rows: p.rows,
      truncated: p.full || omittedRows > 0,
      omittedRows,
    });
  }

  private push(event: DistributiveOmit<RecordingEvent, 'seq' | 'at'>, force = false): void {
    if (!this.admit(force)) return;
    countEvent(this.totals, event as RecordingEvent);
    this.append(JSON.stringify(event).slice(1));
    this.cutWhenFull();
  }

  /**
   * Whether the next event is kept: false (and counted as dropped) while the
   * session's buffer is full; a gap event goes first after a drop.
   */
  private admit(force: boolean): boolean {
    if (!force && this.bufferedBytes + this.inflightBytes >= this.host.limits.maxPendingBytes) {
      this.dropped += 1;
      this.dropReason = this.host.spoolAccepting() ? 'overload' : 'spool-full';
      this.host.eventDropped(this.dropReason);
      this.setOverloaded(true);
      return false;
    }
    if (this.dropped > 0) {
      const gap = { type: 'gap' as const, dropped: this.dropped, reason: this.dropReason };
      this.dropped = 0;
      this.append(JSON.stringify(gap).slice(1));
    }
    return true;
  }

  private cutWhenFull(): void {
    if (this.bufferedBytes >= this.host.limits.chunkBytes && this.host.spoolAccepting()) void this.cut(false);
  }

  /**
   * One event line from its JSON without the opening brace. The hot events
   * (statement, decision, result) are written as text by their methods rather
   * than built as objects and stringified: they run for every statement, and
   * a statement's text and a prepared statement's decision serialize once.
   */
  private append(body: string): void {
    const at = isoNow();
    // seq and at first: a reader sees them at the start of every line.
    const line = `{"seq":${this.nextSeq},"at":"${at}",${body}\n`;
    if (this.bodyEvents === 0) {
      this.firstAt = at;
      this.chunkFirstEvent = this.nextSeq;
    }
    this.nextSeq += 1;
    this.lastAt = at;
    // At most 3 bytes of UTF-8 per UTF-16 code unit.
    const room = 3 * line.length;
    let buf = this.body;
    if (buf === null || buf.length - this.bufferedBytes < room) buf = this.grow(room);
    this.bufferedBytes += buf.write(line, this.bufferedBytes, 'utf8');
    this.bodyEvents += 1;
  }

  private grow(room: number): Buffer {
    const used = this.bufferedBytes;
    const next = Buffer.allocUnsafe(Math.max(BODY_START_BYTES, this.bodyHint + room, 2 * (used + room)));
    this.body?.copy(next, 0, 0, used);
    this.body = next;
    return next;
  }

  private cut(final: boolean): Promise<void> {
    if (this.bodyEvents === 0) return this.tail;
    const bytes = this.bufferedBytes;
    const body = (this.body as Buffer).subarray(0, bytes);
    const events = this.bodyEvents;
    const head = {
      firstEvent: this.chunkFirstEvent,
      firstAt: this.firstAt,
      lastAt: this.lastAt,
      nextEvent: this.nextSeq,
      totals: { ...this.totals },
    };
    this.body = null;
    this.bodyEvents = 0;
    this.bodyHint = Math.min(bytes, this.host.limits.chunkBytes);
    this.bufferedBytes = 0;
    this.inflightBytes += bytes;
    const job = this.tail.then(() => this.write(body, events, head, final));
    this.tail = job;
    return job;
  }

  /** Retries until the chunk is in the spool: a chunk number, once given out, must not be skipped. */
  private async write(
    body: Buffer,
    events: number,
    head: { firstEvent: number; firstAt: string; lastAt: string; nextEvent: number; totals: SessionTotals },
    final: boolean,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const chunk = await encodeChunk({
          recordingId: this.recordingId,
          seq: this.chunkSeq,
          firstEvent: head.firstEvent,
          prevSha256: this.prevSha,
          final,
          firstAt: head.firstAt,
          lastAt: head.lastAt,
          events,
          body,
        });
        await this.host.writeChunk(chunk, {
          recordingId: this.recordingId,
          seq: this.chunkSeq,
          sha256: chunk.sha256,
          nextEvent: head.nextEvent,
          lastAt: head.lastAt,
          totals: head.totals,
          sealed: final,
        });
        this.chunkSeq += 1;
        this.prevSha = chunk.sha256;
        this.inflightBytes -= body.length;
        this.host.writeSucceeded();
        if (
          this.isOverloaded &&
          this.inflightBytes + this.bufferedBytes < this.host.limits.maxPendingBytes / 2
        ) {
          this.setOverloaded(false);
        }
        return;
      } catch (err) {
        this.host.writeFailed(err);
        if (this.host.abandoning()) {
          this.inflightBytes -= body.length;
          return;
        }
        await pause(backoffDelay(attempt, WRITE_RETRY), this.host.stopping);
      }
    }
  }

  private setOverloaded(on: boolean): void {
    if (this.isOverloaded === on) return;
    this.isOverloaded = on;
    this.host.overloaded(this, on);
  }
}

let clockMs = 0;
let clockText = '';

/** The time as ISO 8601, formatted once per millisecond however many events share it. */
function isoNow(): string {
  const now = Date.now();
  if (now !== clockMs) {
    clockMs = now;
    clockText = new Date(now).toISOString();
  }
  return clockText;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function cell(value: unknown): Cell {
  return value === null || value === undefined ? null : String(value);
}

function count(n: unknown): number {
  const v = Math.trunc(Number(n));
  return Number.isFinite(v) && v > 0 ? v : 0;
}

function message(input: MessageInput) {
  const code = /^[0-9A-Z]{5}$/.test(input.code) ? input.code : 'XX000';
  return {
    statementId: input.statementId ?? null,
    source: input.source,
    severity: String(input.severity) || 'ERROR',
    code,
    message: scrubCredentials(String(input.message)),
    detail: scrubNullable(input.detail),
    hint: scrubNullable(input.hint),
  };
}

function recordedFacts(f: FactsInput): RecordedFacts {
  return {
    kind: f.kind,
    tablesRead: [...f.tablesRead],
    tablesWritten: [...f.tablesWritten],
    functions: [...f.functions],
    locksRows: f.locksRows === true,
    settings: f.settings.map((s) => s.name),
  };
}
