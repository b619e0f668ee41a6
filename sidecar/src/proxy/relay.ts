import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { RowLimit } from '../enforce/row-limit.js';
import type { StatementGate } from '../enforce/statement-gate.js';
import type { ErrorSubstitution } from '../enforce/substitution.js';
import { ProxyErrors } from '../errors/proxy-errors.js';
import type { Logger } from '../observe/log.js';
import type { ProxyMetrics } from '../observe/metrics.js';
import { BackendCode, FrontendCode } from '../wire/codes.js';
import { decodeErrorFields, PgError } from '../wire/error-response.js';
import { DROP, type FrameVisitor, MessageFramer } from '../wire/framer.js';
import { checkFrontendHeader, type MessageLimits } from '../wire/frontend-check.js';
import { Outbox } from '../wire/outbox.js';

export type RelayEnd = 'client_closed' | 'upstream_closed' | 'protocol_error' | 'shutdown';

/** The policy applied on the data path; null runs the session as a transparent proxy. */
export interface Enforcement {
  gate: StatementGate;
  substitution: ErrorSubstitution;
  rowLimit: RowLimit | null;
}

export interface RelayOptions {
  limits: MessageLimits;
  metrics: ProxyMetrics;
  log: Logger;
  upstreamName: string;
  enforcement: Enforcement | null;
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
  private readonly enforcement: Enforcement | null;

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
    this.toUpstream = new Outbox(upstream);
    this.toClient = new Outbox(client);
    this.clientFramer = new MessageFramer(this.clientVisitor(), this.toUpstream);
    this.upstreamFramer = new MessageFramer(this.upstreamVisitor(), this.toClient);
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

  /** Ends the session now with a FATAL error to the client. */
  terminate(error: PgError, end: RelayEnd): void {
    if (this.ended) return;
    this.client.end(error.encode());
    this.upstream.end();
    this.finish(end);
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
    if (!this.toClient.flush()) this.waitForDrain(this.upstream, this.client);
    if (this.cycleDone) {
      this.cycleDone = false;
      this.metrics.overhead.observe((this.cycleCpuMs + performance.now() - t0) / 1000);
      this.cycleCpuMs = 0;
      if (this.shuttingDown) this.closeIfIdle();
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
      case FrontendCode.Bind:
      case FrontendCode.Describe:
      case FrontendCode.Execute:
      case FrontendCode.Close:
      case FrontendCode.Flush:
        this.unsynced = true;
        break;
      case FrontendCode.Terminate:
        this.clientTerminated = true;
        break;
    }
    const gate = this.enforcement?.gate;
    if (!gate) return undefined;
    switch (code) {
      case FrontendCode.Query:
        return gate.onQuery(buf, start, end) ?? undefined;
      case FrontendCode.Parse:
        return gate.onParse(buf, start, end) ?? undefined;
      case FrontendCode.Execute:
        return gate.onExecute() ?? undefined;
      case FrontendCode.Sync:
        gate.onSync();
        return undefined;
      case FrontendCode.FunctionCall:
        this.hold(gate.onFunctionCall(buf, start, end), Buffer.from(buf.subarray(start, end)));
        return DROP;
      default:
        return undefined;
    }
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

  private release(decided: Buffer): void {
    const held = this.held ?? [];
    this.held = null;
    if (this.ended) return;
    this.toUpstream.push(decided);
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
    const substitution = this.enforcement?.substitution ?? null;
    const rowLimit = this.enforcement?.rowLimit ?? null;
    return {
      onHeader: (code) => {
        counts.count(code);
        const limited = rowLimit?.wantsWhole(code) ?? false;
        return limited || code === BackendCode.ReadyForQuery || code === BackendCode.ErrorResponse;
      },
      onMessage: (code, buf, start, end) => {
        switch (code) {
          case BackendCode.ReadyForQuery:
            this.txStatus = buf[start + 5] as number;
            if (this.pending > 0) this.pending--;
            this.cycleDone = true;
            substitution?.readyForQuery();
            return undefined;
          case BackendCode.ErrorResponse: {
            const replacement = substitution?.replacementFor(buf, start, end) ?? null;
            if (replacement) return replacement;
            if (isFatal(buf, start)) this.upstreamSentFatal = true;
            return undefined;
          }
          default:
            return rowLimit?.replace(code, buf, start, end);
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
    this.finish('upstream_closed');
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

/** FATAL/PANIC mean the server closes the connection right after this ErrorResponse. */
function isFatal(buf: Buffer, start: number): boolean {
  const severity = decodeErrorFields(buf, start, start + 1 + buf.readUInt32BE(start + 1)).get('V');
  return severity === 'FATAL' || severity === 'PANIC';
}
