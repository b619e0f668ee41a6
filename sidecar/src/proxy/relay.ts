import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { SessionApprovals } from '../approve/session-approvals.js';
import type { RowLimit } from '../enforce/row-limit.js';
import type { HeldMessage, StatementGate } from '../enforce/statement-gate.js';
import type { ErrorSubstitution } from '../enforce/substitution.js';
import { ProxyErrors } from '../errors/proxy-errors.js';
import type { SessionMasking } from '../mask/masking.js';
import type { AllowedStatement, ResultMasking } from '../mask/result-masking.js';
import type { Logger } from '../observe/log.js';
import type { ProxyMetrics } from '../observe/metrics.js';
import { type SessionTap, type TapVerdict, tapUpstream } from '../record/session-tap.js';
import { BackendCode, FrontendCode } from '../wire/codes.js';
import { decodeErrorFields, PgError } from '../wire/error-response.js';
import { DROP, type FrameVisitor, MessageFramer } from '../wire/framer.js';
import { checkFrontendHeader, type MessageLimits } from '../wire/frontend-check.js';
import { Outbox } from '../wire/outbox.js';
import type { SessionState } from './access.js';

const NONE_ALLOWED: readonly AllowedStatement[] = Object.freeze([]);

/** terminated: the proxy ended the session for a reason of its own (access revoked, policy changed); see endMessage. */
export type RelayEnd = 'client_closed' | 'upstream_closed' | 'protocol_error' | 'shutdown' | 'terminated';

/** The policy applied on the data path; null runs the session as a transparent proxy. */
export interface Enforcement {
  gate: StatementGate;
  substitution: ErrorSubstitution;
  rowLimit: RowLimit | null;
  masking: SessionMasking | null;
  /** The session's approval requests; null when the policy holds nothing for a human. */
  approvals?: SessionApprovals | null;
}

export interface RelayOptions {
  limits: MessageLimits;
  metrics: ProxyMetrics;
  log: Logger;
  upstreamName: string;
  enforcement: Enforcement | null;
  /** The session's recording; null when the policy records nothing. */
  recording?: SessionTap | null;
}

/**
 * The steady-state data path of one session: frames both directions, tracks
 * the transaction state from ReadyForQuery, and forwards with backpressure.
 * Each inbound chunk leaves as one corked write.
 */
export class Relay {
  /** Transaction status from the last ReadyForQuery: I idle, T in a transaction, E failed transaction. */
  txStatus = 0x49;
  /** Request cycles in flight: Query/Sync/FunctionCall sent, their ReadyForQuery not yet received (pipelines have several). */
  private pending = 0;
  /** Extended-protocol messages sent since the last Sync: a portal may be open and being read. */
  private unsynced = false;
  private shuttingDown = false;
  private ended = false;
  private upstreamSentFatal = false;
  private clientTerminated = false;
  /** The proxy's notices waiting for the server's stream to reach a message boundary. */
  private readonly notices: Buffer[] = [];
  /** Client messages received while an asynchronous decision is pending, in order; null when none is. */
  private held: Buffer[] | null = null;
  /** Proxy CPU time spent on the current request cycle, in ms. */
  private cycleCpuMs = 0;
  private cycleDone = false;
  private readonly toUpstream: Outbox;
  private readonly toClient: Outbox;
  private readonly clientFramer: MessageFramer;
  private readonly upstreamFramer: MessageFramer;
  readonly finished: Promise<RelayEnd>;
  private resolveFinished!: (end: RelayEnd) => void;

  private readonly limits: MessageLimits;
  private readonly metrics: ProxyMetrics;
  private readonly log: Logger;
  private readonly upstreamName: string;
  private enforcement: Enforcement | null;
  private readonly tap: SessionTap | null;
  /** Names the stand-ins of Executes the recording refused. */
  private unrecorded = 0;
  /** Named statements the client Parsed and has not Closed: their Executes were decided at Parse. */
  private readonly namedStatements = new Set<string>();
  /** A policy change waiting for the session to be idle; null when none is. */
  private retargeting: ((state: SessionState) => Enforcement | PgError) | null = null;
  /** The message of the FATAL error the proxy ended the session with; null when it did not. */
  endMessage: string | null = null;

  constructor(
    private readonly client: Socket,
    private readonly upstream: Socket,
    options: RelayOptions,
  ) {
    this.limits = options.limits;
    this.metrics = options.metrics;
    this.log = options.log;
    this.upstreamName = options.upstreamName;
    this.enforcement = options.enforcement;
    this.tap = options.recording ?? null;
    this.observeApprovals();
    this.toUpstream = new Outbox(upstream);
    this.toClient = new Outbox(client);
    this.clientFramer = new MessageFramer(this.clientVisitor(), this.toUpstream);
    const upstreamVisitor = this.upstreamVisitor();
    this.upstreamFramer = new MessageFramer(
      this.tap
        ? tapUpstream(upstreamVisitor, this.tap, this.enforcement?.substitution ?? null)
        : upstreamVisitor,
      this.toClient,
    );
    this.finished = new Promise((resolve) => {
      this.resolveFinished = resolve;
    });
  }

  start(clientLeftover: Buffer, upstreamLeftover: Buffer): void {
    this.client.on('data', (chunk: Buffer) => this.fromClient(chunk));
    this.upstream.on('data', (chunk: Buffer) => this.fromUpstream(chunk));
    this.client.on('close', () => this.finish('client_closed'));
    this.upstream.on('close', () => this.upstreamClosed());
    this.client.on('error', (err) => this.log.debug({ err: err.message }, 'client socket error'));
    this.upstream.on('error', (err) => this.log.warn({ err: err.message }, 'upstream socket error'));
    if (upstreamLeftover.length > 0) this.fromUpstream(upstreamLeftover);
    if (clientLeftover.length > 0) this.fromClient(clientLeftover);
    // A socket that closed before its listeners were attached emits no further 'close'.
    if (this.client.destroyed) this.finish('client_closed');
    else if (this.upstream.destroyed) this.upstreamClosed();
  }

  /** Ends the session once it is idle (outside a transaction, nothing in flight); at once if it already is. */
  shutdown(): void {
    this.shuttingDown = true;
    this.closeIfIdle();
  }

  /** A CancelRequest for this session: a statement held for approval stops waiting (the server has nothing to cancel). */
  cancelHeld(): void {
    this.enforcement?.approvals?.cancel();
  }

  /** Ends the session now with a FATAL error to the client. */
  terminate(error: PgError, end: RelayEnd): void {
    if (this.ended) return;
    this.endMessage = error.message;
    this.client.end(error.encode());
    this.upstream.end();
    this.finish(end);
  }

  /**
   * Moves the session to other enforcement at its next idle point, before it
   * admits another message (at once if it is idle now); `next` answers the
   * enforcement, or the error that ends the session instead.
   */
  retarget(next: (state: SessionState) => Enforcement | PgError): void {
    this.retargeting = next;
    this.retargetIfIdle();
  }

  private retargetIfIdle(): void {
    const next = this.retargeting;
    if (next === null || this.ended || !this.idle) return;
    this.retargeting = null;
    const holdsPrepared = this.namedStatements.size > 0 || (this.enforcement?.gate.holdsPrepared ?? false);
    const result = next({ holdsPrepared });
    if (result instanceof PgError) {
      this.terminate(result, 'terminated');
      return;
    }
    this.enforcement = result;
    this.observeApprovals();
  }

  /** Nothing in flight, outside a transaction, no message half-read or held. */
  private get idle(): boolean {
    return (
      this.pending === 0 &&
      !this.unsynced &&
      this.txStatus === 0x49 &&
      this.clientFramer.idle &&
      this.held === null
    );
  }

  /** The session's error substitution, which a new policy's enforcement takes over. */
  get substitution(): ErrorSubstitution | undefined {
    return this.enforcement?.substitution;
  }

  private observeApprovals(): void {
    const tap = this.tap;
    const approvals = this.enforcement?.approvals;
    if (tap && approvals) approvals.observer = (s) => tap.approval(s);
  }

  private fromClient(chunk: Buffer): void {
    const t0 = performance.now();
    this.metrics.fromClient.bytes += chunk.length;
    try {
      this.clientFramer.push(chunk);
    } catch (err) {
      this.protocolError(err);
      return;
    }
    if (!this.toUpstream.flush()) this.waitForDrain(this.client, this.upstream);
    this.cycleCpuMs += performance.now() - t0;
  }

  private fromUpstream(chunk: Buffer): void {
    const t0 = performance.now();
    this.metrics.fromUpstream.bytes += chunk.length;
    try {
      this.upstreamFramer.push(chunk);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'upstream broke the protocol');
      this.terminate(ProxyErrors.upstreamLost(this.upstreamName), 'upstream_closed');
      return;
    }
    this.flushNotices();
    if (!this.toClient.flush()) this.waitForDrain(this.upstream, this.client);
    if (this.cycleDone) {
      this.cycleDone = false;
      this.metrics.overhead.observe((this.cycleCpuMs + performance.now() - t0) / 1000);
      this.cycleCpuMs = 0;
      if (this.shuttingDown) this.closeIfIdle();
      else if (this.retargeting !== null) this.retargetIfIdle();
    } else {
      this.cycleCpuMs += performance.now() - t0;
    }
  }

  /** Stops reading from `source` until `sink` has flushed: memory stays flat whatever the result size. */
  private waitForDrain(source: Socket, sink: Socket): void {
    if (source.isPaused()) return;
    source.pause();
    sink.once('drain', () => source.resume());
  }

  private clientVisitor(): FrameVisitor {
    const counts = this.metrics.fromClient;
    const limits = this.limits;
    return {
      onHeader: (code, length) => {
        checkFrontendHeader(code, length, limits);
        counts.count(code);
        // While a decision is pending every message is held whole, CopyData included.
        return code !== FrontendCode.CopyData || this.held !== null;
      },
      onMessage: (code, buf, start, end) => {
        if (this.held !== null) {
          this.held.push(Buffer.from(buf.subarray(start, end)));
          return DROP;
        }
        return this.admit(code, buf, start, end);
      },
    };
  }

  /** Tracks the session state a client message changes and asks the gate; returns its replacement, if any. */
  private admit(code: number, buf: Buffer, start: number, end: number): Buffer | undefined {
    if (code === FrontendCode.Query || code === FrontendCode.Parse) {
      // Masking decides from the masked columns as they are now: a stale list is read again
      // first, and the message is admitted once it has been.
      const refresh = this.enforcement?.masking?.ready(statementText(code, buf, start)) ?? null;
      if (refresh !== null) {
        this.defer(refresh, Buffer.from(buf.subarray(start, end)));
        return DROP;
      }
    }
    switch (code) {
      case FrontendCode.Query:
      case FrontendCode.FunctionCall:
        this.pending++;
        break;
      case FrontendCode.Sync:
        this.pending++;
        this.unsynced = false;
        break;
      case FrontendCode.Parse:
        this.unsynced = true;
        // The unnamed statement (a NUL right after the header) is replaced by the next Parse.
        if (buf[start + 5] !== 0) this.namedStatements.add(cstringAt(buf, start + 5));
        break;
      case FrontendCode.Close:
        this.unsynced = true;
        if (buf[start + 5] === 0x53 /* S */) this.namedStatements.delete(cstringAt(buf, start + 6));
        break;
      case FrontendCode.Bind:
      case FrontendCode.Describe:
      case FrontendCode.Execute:
      case FrontendCode.Flush:
        this.unsynced = true;
        break;
      case FrontendCode.Terminate:
        this.clientTerminated = true;
        break;
    }
    const gate = this.enforcement?.gate;
    if (!gate) return undefined;
    const masking = this.enforcement?.masking ?? null;
    let replacement: Buffer | null = null;
    let verdict: TapVerdict = null;
    switch (code) {
      case FrontendCode.Query:
      case FrontendCode.Parse: {
        replacement = this.unrecordable(code, buf, start);
        if (replacement !== null) verdict = 'recording-refused';
        else {
          replacement =
            code === FrontendCode.Query ? gate.onQuery(buf, start, end) : gate.onParse(buf, start, end);
          verdict = gate.lastDecision;
        }
        break;
      }
      case FrontendCode.Execute:
        replacement = this.unrecordable(code, buf, start);
        if (replacement !== null) verdict = 'recording-refused';
        else {
          replacement = gate.onExecute(buf, start, end);
          verdict = gate.lastDecision;
        }
        break;
      case FrontendCode.Bind:
        gate.onBind(buf, start, end);
        break;
      case FrontendCode.Close:
        gate.onClose(buf, start, end);
        break;
      case FrontendCode.Sync:
        gate.onSync();
        break;
      case FrontendCode.FunctionCall: {
        masking?.results.sent(code, buf, start, end, NONE_ALLOWED);
        const refused = this.unrecordable(code, buf, start);
        if (refused !== null) {
          this.tap?.sent(code, buf, start, end, 'recording-refused');
          return refused;
        }
        const message = Buffer.from(buf.subarray(start, end));
        const decided = gate.onFunctionCall(buf, start, end);
        const tap = this.tap;
        this.hold(
          tap
            ? decided.then((r) => {
                tap.sent(code, message, 0, message.length, gate.lastDecision);
                return r;
              })
            : decided,
          message,
        );
        return DROP;
      }
    }
    const held = gate.takeHeld();
    if (held !== null) {
      this.holdForApproval(code, Buffer.from(buf.subarray(start, end)), held);
      return DROP;
    }
    this.tap?.sent(code, buf, start, end, verdict);
    if (!masking) return replacement ?? undefined;
    if (replacement !== null) {
      // A refused message: its stand-in is what PostgreSQL answers.
      masking.results.sent(replacement[0] as number, replacement, 0, replacement.length, NONE_ALLOWED);
      return replacement;
    }
    return masking.results.sent(code, buf, start, end, gate.allowed);
  }

  /**
   * Fail closed: when the recording cannot take another statement (spool full,
   * writes failing), the message is replaced by a stand-in that fails with the
   * recorder's error, as the gate does for a refused statement.
   */
  private unrecordable(code: number, buf: Buffer, start: number): Buffer | null {
    const error = this.tap?.refusal() ?? null;
    const substitution = this.enforcement?.substitution;
    if (error === null || !substitution) return null;
    if (code === FrontendCode.Query || code === FrontendCode.FunctionCall) {
      return substitution.standInQuery(error);
    }
    // A Parse keeps its name, so a later Bind to it fails as it would in PostgreSQL.
    const name =
      code === FrontendCode.Parse
        ? buf.toString('utf8', start + 5, Math.max(start + 5, buf.indexOf(0, start + 5)))
        : `pgwarden_unrecorded_${++this.unrecorded}`;
    return substitution.standInParse(name, error);
  }

  /**
   * Holds `message` and everything after it until `ready` settles, then admits
   * them again in order. If it fails, the session ends: a statement must not run
   * without the masking it needs.
   */
  private defer(ready: Promise<void>, message: Buffer): void {
    this.held = [message];
    this.client.pause();
    ready.then(
      () => this.release(null),
      (err: unknown) => {
        this.log.error({ reason: (err as Error).message }, 'masked columns could not be read');
        this.terminate(ProxyErrors.maskingUnavailable((err as Error).message), 'shutdown');
      },
    );
  }

  /**
   * An asynchronous decision: nothing the client sends after `message` may
   * overtake it, so reading stops and what was already received is held until
   * the decision settles, then replayed in order.
   */
  private hold(decision: Promise<Buffer | null>, message: Buffer): void {
    this.held = [];
    this.client.pause();
    decision.then(
      (replacement) => this.release(replacement ?? message),
      (err: unknown) => this.protocolError(err),
    );
  }

  /**
   * A statement waiting for a human: held like an asynchronous decision, with
   * the recording and the result masking told about it when it is released,
   * in order, as the approved message or its stand-in.
   */
  private holdForApproval(code: number, message: Buffer, held: HeldMessage): void {
    const gate = this.enforcement?.gate as StatementGate;
    const masking = this.enforcement?.masking ?? null;
    const decided = held
      .settle((notice) => this.noticeToClient(notice))
      .then((standIn) => {
        this.tap?.sent(code, message, 0, message.length, gate.lastDecision);
        const out = standIn ?? message;
        const masked = masking?.results.sent(
          out[0] as number,
          out,
          0,
          out.length,
          standIn ? NONE_ALLOWED : gate.allowed,
        );
        return masked ?? standIn;
      });
    this.hold(decided, message);
  }

  /** A NoticeResponse of the proxy's own, sent between two of the server's messages, never inside one. */
  private noticeToClient(notice: Buffer): void {
    if (this.ended) return;
    this.notices.push(notice);
    this.flushNotices();
  }

  private flushNotices(): void {
    if (this.notices.length === 0 || !this.upstreamFramer.idle) return;
    for (const notice of this.notices.splice(0)) this.toClient.push(notice);
    if (!this.toClient.flush()) this.waitForDrain(this.upstream, this.client);
  }

  /** Sends the decided message (null: none, every held message is admitted again), then replays what was held. */
  private release(decided: Buffer | null): void {
    const held = this.held ?? [];
    this.held = null;
    if (this.ended) return;
    if (decided !== null) this.toUpstream.push(decided);
    try {
      for (const message of held) {
        // admit() of a held FunctionCall starts a new hold: the rest waits for that one.
        const heldAgain = this.held as Buffer[] | null;
        if (heldAgain !== null) {
          heldAgain.push(message);
          continue;
        }
        const out = this.admit(message[0] as number, message, 0, message.length) ?? message;
        if (out.length > 0) this.toUpstream.push(out);
      }
    } catch (err) {
      this.protocolError(err);
      return;
    }
    const resume = () => {
      if (this.held === null) this.client.resume();
    };
    if (this.toUpstream.flush()) resume();
    else this.upstream.once('drain', resume);
  }

  private upstreamVisitor(): FrameVisitor {
    const counts = this.metrics.fromUpstream;
    // Read per message: a session that moves to another policy does so between two request cycles.
    let rowLimit: RowLimit | null = null;
    let masking: ResultMasking | null = null;
    // What the current message was wanted whole for (the framer hands over one message at a time).
    let limited = false;
    let masked = false;
    // An approved run's outcome (command tag or error) is recorded on its approval request.
    let approvals: SessionApprovals | null = null;
    return {
      onHeader: (code) => {
        counts.count(code);
        rowLimit = this.enforcement?.rowLimit ?? null;
        masking = this.enforcement?.masking?.results ?? null;
        limited = rowLimit?.wantsWhole(code) ?? false;
        masked = masking?.wantsWhole(code) ?? false;
        approvals = this.enforcement?.approvals?.awaitingOutcome ? this.enforcement.approvals : null;
        const outcome = approvals !== null && code === BackendCode.CommandComplete;
        return (
          limited ||
          masked ||
          outcome ||
          code === BackendCode.ReadyForQuery ||
          code === BackendCode.ErrorResponse
        );
      },
      onMessage: (code, buf, start, end) => {
        switch (code) {
          case BackendCode.ReadyForQuery:
            this.txStatus = buf[start + 5] as number;
            if (this.pending > 0) this.pending--;
            this.cycleDone = true;
            this.enforcement?.substitution.readyForQuery();
            approvals?.readyForQuery();
            return undefined;
          case BackendCode.ErrorResponse: {
            approvals?.errorResponse(decodeErrorFields(buf, start, end).get('M') ?? '');
            const maskedError = masked ? masking?.received(code, buf, start, end) : undefined;
            const replacement = this.enforcement?.substitution.replacementFor(buf, start, end) ?? null;
            if (replacement) return replacement;
            if (isFatal(buf, start)) this.upstreamSentFatal = true;
            return maskedError;
          }
          default: {
            if (code === BackendCode.CommandComplete)
              approvals?.commandComplete(buf.toString('utf8', start + 5, end - 1));
            const limit = limited ? rowLimit?.replace(code, buf, start, end) : undefined;
            // A row the limit dropped or replaced by its notice needs no masking.
            if (code === BackendCode.DataRow && limit !== undefined) return limit;
            const mask = masked ? masking?.received(code, buf, start, end) : undefined;
            return limit ?? mask;
          }
        }
      },
    };
  }

  private protocolError(err: unknown): void {
    const pgError = err instanceof PgError ? err : ProxyErrors.protocolViolation((err as Error).message);
    this.metrics.protocolErrors.inc({ kind: err instanceof PgError ? 'oversize' : 'malformed' });
    this.log.warn(
      { sqlstate: pgError.code, reason: pgError.message },
      'closing client connection: protocol error',
    );
    this.terminate(pgError, 'protocol_error');
  }

  private upstreamClosed(): void {
    if (this.ended) return;
    if (!this.upstreamSentFatal && !this.clientTerminated && !this.client.destroyed) {
      this.metrics.upstreamErrors.inc({ kind: 'lost' });
      this.log.warn('upstream closed the connection');
      this.toClient.flush();
      this.client.end(ProxyErrors.upstreamLost(this.upstreamName).encode());
    } else {
      this.client.end();
    }
    // After Terminate the server closes first, often before the client's close arrives: the client ended it.
    this.finish(this.clientTerminated ? 'client_closed' : 'upstream_closed');
  }

  private closeIfIdle(): void {
    if (this.pending > 0 || this.unsynced || this.txStatus !== 0x49 || !this.clientFramer.idle) return;
    this.terminate(ProxyErrors.shuttingDown(), 'shutdown');
  }

  private finish(end: RelayEnd): void {
    if (this.ended) return;
    this.ended = true;
    if (end === 'client_closed') this.upstream.end();
    this.resolveFinished(end);
  }
}

/** The NUL-terminated string at `at` (a statement name). */
function cstringAt(buf: Buffer, at: number): string {
  return buf.toString('utf8', at, Math.max(at, buf.indexOf(0, at)));
}

/** FATAL/PANIC mean the server closes the connection right after this ErrorResponse. */
function isFatal(buf: Buffer, start: number): boolean {
  const severity = decodeErrorFields(buf, start, start + 1 + buf.readUInt32BE(start + 1)).get('V');
  return severity === 'FATAL' || severity === 'PANIC';
}

/** The SQL of a Query or Parse message, for the masking catalog's freshness check (malformed: empty; the gate refuses it). */
function statementText(code: number, buf: Buffer, start: number): string {
  let from = start + 5;
  if (code === FrontendCode.Parse) from = buf.indexOf(0, from) + 1;
  const nul = buf.indexOf(0, from);
  return from > start && nul >= from ? buf.toString('utf8', from, nul) : '';
}
