import { performance } from 'node:perf_hooks';
import type { SessionEndReason } from '@pgwarden/crds';
import type { StatementFacts } from '../analyze/facts.js';
import type { ApprovalObservation } from '../approve/session-approvals.js';
import type { GateDecision } from '../enforce/statement-gate.js';
import type { ErrorSubstitution } from '../enforce/substitution.js';
import { BackendCode, FrontendCode } from '../wire/codes.js';
import { PgError } from '../wire/error-response.js';
import type { FrameVisitor } from '../wire/framer.js';
import { MessageReader } from '../wire/reader.js';
import type { Cell, DecisionInput, FactsInput, SessionRecorder, StatementInput } from './session-recorder.js';
import {
  cellRanges,
  changedCells,
  dataRowCells,
  decodeBind,
  decodeRowDescription,
  messageText,
  parseParameterTypes,
  readValues,
  type WireColumn,
  withFormats,
} from './wire-text.js';

/**
 * What decided a client message before it went upstream: the gate's decision,
 * `recording-refused` when the recorder could not take it (a stand-in went
 * instead), or null when nothing was decided (an Execute runs what its Parse
 * decided).
 */
export type TapVerdict = GateDecision | 'recording-refused' | null;

interface Prepared {
  name: string;
  text: string;
  parameterTypes: number[];
  decision: GateDecision | null;
  /** From Describe of the statement: names and types, formats not yet chosen. */
  columns: WireColumn[] | null;
}

interface Portal {
  statement: Prepared | null;
  parameters: Cell[];
  resultFormats: number[];
  /** From Describe of the portal (the client's, or the one masking sends before Execute). */
  columns: WireColumn[] | null;
}

/** What each message sent upstream will be answered with, in order. */
type Entry =
  | {
      kind: 'query';
      id: number;
      t0: number;
      statement: StatementInput;
      verdict: TapVerdict;
      approvals: readonly ApprovalObservation[];
    }
  | { kind: 'parse'; statement: Prepared; verdict: TapVerdict }
  | { kind: 'bind'; portal: Portal; verdict: TapVerdict }
  | { kind: 'describe'; statement: Prepared | null; portal: Portal | null }
  | {
      kind: 'execute';
      portal: Portal | null;
      verdict: TapVerdict;
      t0: number;
      id: number;
      approvals: readonly ApprovalObservation[];
    }
  | {
      kind: 'function';
      id: number;
      t0: number;
      statement: StatementInput;
      verdict: TapVerdict;
      approvals: readonly ApprovalObservation[];
    }
  | { kind: 'close' }
  | { kind: 'sync' };

/** The result streaming now. */
interface Running {
  id: number;
  t0: number;
  rows: number;
  bytes: number;
  columns: WireColumn[];
  copyOut: boolean;
  /** COPY … TO in binary format: its lines are recorded as hex. */
  copyBinary: boolean;
  /** CopyData messages sent to the client: one per line (the header line, then a row each). */
  copyLines: number;
}

/**
 * Feeds one session's traffic into its SessionRecorder: statements with their
 * protocol path and parameters and the gate's decision as they go upstream,
 * then, following the protocol's request/response order, columns, rows,
 * result summaries, errors and notices exactly as the client receives them
 * (after masking and the row limit). A statement of the extended protocol is
 * recorded when PostgreSQL starts answering its Execute, so Executes that a
 * failure earlier in the pipeline skipped are not recorded as run.
 */
export class SessionTap {
  private readonly queue: Entry[] = [];
  private readonly statements = new Map<string, Prepared>();
  private readonly portals = new Map<string, Portal>();
  private running: Running | null = null;
  private readonly reader = new MessageReader();
  /** Steps of the approval of the message being held; they belong to it once it is sent. */
  private approvals: ApprovalObservation[] = [];

  constructor(readonly recorder: SessionRecorder) {}

  /** A step of the approval of the message held now (it is sent, or refused, once decided). */
  approval(step: ApprovalObservation): void {
    this.approvals.push(step);
  }

  /** The session continues under another policy (it is idle: nothing queued is left to record first). */
  policyChanged(policy: { name: string; hash: string }): void {
    this.recorder.policyChange(policy);
  }

  /** The error to answer instead of running the next statement (the recording cannot take it), or null. */
  refusal(): PgError | null {
    const r = this.recorder.refusal();
    return r ? new PgError({ severity: 'ERROR', code: r.code, message: r.message, hint: r.hint }) : null;
  }

  /** A client message as the client sent it, after it was decided and forwarded (or its stand-in was). */
  sent(code: number, buf: Buffer, start: number, end: number, verdict: TapVerdict): void {
    const r = this.reader;
    switch (code) {
      case FrontendCode.Query: {
        const text = r.reset(buf, start + 5, end).cstring();
        this.sentStatement({
          kind: 'query',
          id: 0,
          t0: performance.now(),
          statement: { text, protocol: 'simple' },
          verdict,
          approvals: this.takeApprovals(),
        });
        return;
      }
      case FrontendCode.Parse: {
        r.reset(buf, start + 5, end);
        const name = r.cstring();
        const text = r.cstring();
        const statement: Prepared = {
          name,
          text,
          parameterTypes: parseParameterTypes(r, buf, start, end),
          decision: verdict === 'recording-refused' ? null : verdict,
          columns: null,
        };
        this.statements.set(name, statement);
        this.queue.push({ kind: 'parse', statement, verdict });
        return;
      }
      case FrontendCode.Bind: {
        r.reset(buf, start + 5, end);
        r.cstring();
        const statement = this.statements.get(r.cstring()) ?? null;
        const bind = decodeBind(r, buf, start, end, statement?.parameterTypes ?? []);
        const portal: Portal = {
          statement,
          parameters: bind.parameters,
          resultFormats: bind.resultFormats,
          columns: null,
        };
        this.portals.set(bind.portal, portal);
        this.queue.push({ kind: 'bind', portal, verdict });
        return;
      }
      case FrontendCode.Describe: {
        r.reset(buf, start + 5, end);
        const what = r.byte();
        const name = r.cstring();
        this.queue.push(
          what === 0x53
            ? { kind: 'describe', statement: this.statements.get(name) ?? null, portal: null }
            : { kind: 'describe', statement: null, portal: this.portals.get(name) ?? null },
        );
        return;
      }
      case FrontendCode.Execute: {
        const portal = this.portals.get(r.reset(buf, start + 5, end).cstring()) ?? null;
        this.queue.push({
          kind: 'execute',
          portal,
          verdict,
          t0: performance.now(),
          id: 0,
          approvals: this.takeApprovals(),
        });
        return;
      }
      case FrontendCode.Close: {
        r.reset(buf, start + 5, end);
        const what = r.byte();
        const name = r.cstring();
        if (what === 0x53) this.statements.delete(name);
        else this.portals.delete(name);
        this.queue.push({ kind: 'close' });
        return;
      }
      case FrontendCode.Sync:
        this.queue.push({ kind: 'sync' });
        return;
      case FrontendCode.FunctionCall: {
        const call = functionCall(r, buf, start, end, verdict);
        this.sentStatement({
          kind: 'function',
          id: 0,
          t0: performance.now(),
          statement: { text: call.text, protocol: 'function-call', parameters: call.parameters },
          verdict,
          approvals: this.takeApprovals(),
        });
        return;
      }
    }
  }

  /** For each upstream header: true when the recording needs the whole message. */
  wantsWhole(code: number): boolean {
    switch (code) {
      case BackendCode.DataRow: {
        this.begin();
        const running = this.running;
        return running !== null && this.recorder.wantsRows(running.id);
      }
      case BackendCode.CopyData: {
        const running = this.running;
        return running?.copyOut === true && this.recorder.wantsRows(running.id);
      }
      case BackendCode.ParameterStatus:
      case BackendCode.NotificationResponse:
        return false;
      case BackendCode.ParameterDescription:
        return true;
      default:
        this.begin();
        return true;
    }
  }

  /** An upstream message forwarded as it came, without being read (a DataRow past the row cap, CopyData). */
  streamed(code: number, length: number): void {
    const running = this.current();
    if (running === null) return;
    if (code === BackendCode.DataRow) {
      running.rows++;
      running.bytes += length + 1;
    } else if (code === BackendCode.CopyData && running.copyOut) {
      running.copyLines++;
      running.bytes += length + 1;
    }
  }

  /**
   * An upstream message read whole: buf[start, end) as PostgreSQL sent it, and
   * `out`, what went to the client instead (undefined: the same; empty: nothing).
   * `substituted`: `out` is pgwarden's error in place of a stand-in's.
   */
  received(
    code: number,
    buf: Buffer,
    start: number,
    end: number,
    out: Buffer | undefined,
    substituted: boolean,
  ): void {
    const head = this.queue[0];
    switch (code) {
      case BackendCode.ParseComplete:
      case BackendCode.BindComplete:
      case BackendCode.CloseComplete:
        if (head?.kind === 'parse' || head?.kind === 'bind' || head?.kind === 'close') this.queue.shift();
        return;
      case BackendCode.RowDescription:
      case BackendCode.NoData: {
        const columns =
          code === BackendCode.RowDescription ? decodeRowDescription(this.reader, buf, start, end) : [];
        if (head?.kind === 'describe') {
          this.queue.shift();
          if (head.statement) head.statement.columns = columns;
          if (head.portal) head.portal.columns = columns;
        } else if (head?.kind === 'execute' && head.portal) head.portal.columns = columns;
        if (head?.kind === 'query' || head?.kind === 'execute') this.startResult(head.id, head.t0, columns);
        return;
      }
      case BackendCode.DataRow:
        this.dataRow(buf, start, end, out);
        return;
      case BackendCode.CopyOutResponse: {
        const running = this.current();
        if (running) this.startCopy(running, buf[start + 5] === 1);
        return;
      }
      case BackendCode.CopyData:
        this.copyData(buf, start, end, out);
        return;
      case BackendCode.CommandComplete: {
        const final = out ?? buf.subarray(start, end);
        this.current();
        this.finishResult(final.toString('utf8', 5, final.length - 1));
        if (head?.kind === 'execute') this.queue.shift();
        return;
      }
      case BackendCode.PortalSuspended:
        this.finishResult(null);
        if (head?.kind === 'execute') this.queue.shift();
        return;
      case BackendCode.EmptyQueryResponse:
        this.running = null;
        if (head?.kind === 'execute') this.queue.shift();
        return;
      case BackendCode.FunctionCallResponse:
        if (head?.kind === 'function') {
          const bytes = out?.length ?? end - start;
          this.recorder.result(head.id, {
            commandTag: null,
            rows: 0,
            durationMs: performance.now() - head.t0,
            bytes,
          });
        }
        return;
      case BackendCode.NoticeResponse:
        if (out?.length === 0) return;
        this.recorder.notice({
          ...(out ? messageText(out, 0, out.length) : messageText(buf, start, end)),
          statementId: this.currentId(),
          source: 'upstream',
        });
        return;
      case BackendCode.ErrorResponse:
        this.error(buf, start, end, out, substituted);
        return;
      case BackendCode.ReadyForQuery:
        this.running = null;
        if (head?.kind === 'query' || head?.kind === 'sync' || head?.kind === 'function') this.queue.shift();
        // Outside a transaction with nothing in flight, PostgreSQL has closed every portal.
        if (this.queue.length === 0 && buf[start + 5] === 0x49) this.portals.clear();
        return;
    }
  }

  /** Seals the recording. */
  end(reason: SessionEndReason, message?: string | null): Promise<void> {
    return this.recorder.sessionEnd(reason, message);
  }

  private decided(id: number, verdict: TapVerdict): void {
    if (verdict === null || verdict === 'recording-refused') return;
    let input = DECISION_INPUTS.get(verdict);
    if (input === undefined) {
      input = {
        outcome: verdict.outcome,
        rule: verdict.rule,
        message: verdict.message,
        facts: mergedFacts(verdict.facts),
      };
      DECISION_INPUTS.set(verdict, input);
    }
    this.recorder.decision(id, input);
  }

  /**
   * A Query or FunctionCall is recorded as it goes upstream, unless statements
   * sent before it in the pipeline are still to be recorded (on their answer):
   * then it waits its turn, so statements appear in the order they ran.
   */
  private sentStatement(entry: Extract<Entry, { kind: 'query' | 'function' }>): void {
    const waiting = this.queue.some(
      (e) => e.kind === 'parse' || e.kind === 'bind' || ('id' in e && e.id === 0),
    );
    this.queue.push(entry);
    if (!waiting) this.beginStatement(entry);
  }

  private beginStatement(entry: Extract<Entry, { kind: 'query' | 'function' }>): void {
    entry.id = this.recorder.statement(entry.statement);
    this.decided(entry.id, entry.verdict);
    this.approved(entry.id, entry.approvals);
  }

  private takeApprovals(): readonly ApprovalObservation[] {
    if (this.approvals.length === 0) return NO_APPROVALS;
    const steps = this.approvals;
    this.approvals = [];
    return steps;
  }

  private approved(id: number, steps: readonly ApprovalObservation[]): void {
    for (const step of steps) this.recorder.approval(id, step);
  }

  /** The head's statement, recorded when PostgreSQL starts answering it if it was not yet. */
  private begin(): void {
    const head = this.queue[0];
    if ((head?.kind === 'query' || head?.kind === 'function') && head.id === 0) {
      this.beginStatement(head);
      return;
    }
    if (head?.kind !== 'execute' || head.id !== 0) return;
    const portal = head.portal;
    const statement = portal?.statement ?? null;
    head.id = this.recorder.statement({
      text: statement?.text ?? '',
      protocol: statement?.name ? 'prepared' : 'extended',
      preparedName: statement?.name || null,
      parameters: portal?.parameters ?? [],
    });
    this.decided(head.id, head.verdict ?? statement?.decision ?? null);
    this.approved(head.id, head.approvals);
    const columns =
      portal?.columns ??
      (statement?.columns ? withFormats(statement.columns, portal?.resultFormats ?? []) : null);
    this.startResult(head.id, head.t0, columns ?? []);
  }

  /** The result streaming now; a statement of a simple Query that returns no rows starts one at its first message. */
  private current(): Running | null {
    const head = this.queue[0];
    if (this.running === null && head?.kind === 'query') this.startResult(head.id, head.t0, []);
    return this.running;
  }

  private startResult(id: number, t0: number, columns: WireColumn[]): void {
    this.running = { id, t0, rows: 0, bytes: 0, columns, copyOut: false, copyBinary: false, copyLines: 0 };
    if (columns.length > 0) {
      this.recorder.columns(
        id,
        columns.map((c) => ({ name: c.name, typeOid: c.typeOid, masked: false })),
      );
    }
  }

  private dataRow(buf: Buffer, start: number, end: number, out: Buffer | undefined): void {
    const running = this.running;
    if (out !== undefined && out.length === 0) return;
    if (out !== undefined && out[0] !== BackendCode.DataRow) {
      // The row limit sent its notice in place of the first row past maxRows.
      this.recorder.notice({
        ...messageText(out, 0, out.length),
        statementId: running?.id ?? null,
        source: 'pgwarden',
      });
      return;
    }
    if (running === null) return;
    const row = out ?? buf;
    const rowStart = out ? 0 : start;
    const rowEnd = out ? out.length : end;
    running.rows++;
    running.bytes += rowEnd - rowStart;
    if (!this.recorder.wantsRows(running.id)) return;
    const ranges = cellRanges(row, rowStart, rowEnd);
    this.recorder.rows(running.id, [dataRowCells(row, ranges, running.columns)]);
    if (out) {
      const changed = changedCells(buf, cellRanges(buf, start, end), out, ranges);
      if (changed.length > 0) this.recorder.maskedColumns(running.id, changed);
    }
  }

  /**
   * COPY … TO STDOUT: its lines are recorded as rows of one column, `copy`,
   * as the client receives them (text and CSV look alike on the wire: the
   * CopyOutResponse only says text or binary).
   */
  private startCopy(running: Running, binary: boolean): void {
    running.copyOut = true;
    running.copyBinary = binary;
    this.recorder.columns(running.id, [
      { name: 'copy', typeOid: binary ? BYTEA_OID : TEXT_OID, masked: false },
    ]);
  }

  /** A CopyData read whole: `out` is the masking's rewrite of it, if any. */
  private copyData(buf: Buffer, start: number, end: number, out: Buffer | undefined): void {
    const running = this.running;
    if (running === null || !running.copyOut) return;
    const line = out ?? buf;
    const from = (out ? 0 : start) + 5;
    const to = out ? out.length : end;
    running.copyLines++;
    running.bytes += to - from + 5;
    if (!this.recorder.wantsRows(running.id)) return;
    let cell: string;
    if (running.copyBinary) cell = `\\x${line.toString('hex', from, to)}`;
    else cell = line.toString('utf8', from, line[to - 1] === 0x0a ? to - 1 : to);
    this.recorder.rows(running.id, [[cell]]);
    if (out) this.recorder.maskedColumns(running.id, [0]);
  }

  private finishResult(commandTag: string | null): void {
    const running = this.running;
    if (running === null) return;
    this.running = null;
    if (running.copyOut) this.recorder.endRows(running.id, running.copyLines);
    let rows = running.rows;
    const copied = running.copyOut && commandTag ? /^COPY (\d+)$/.exec(commandTag) : null;
    if (copied) rows = Number(copied[1]);
    this.recorder.result(running.id, {
      commandTag,
      rows,
      durationMs: performance.now() - running.t0,
      bytes: running.bytes,
    });
  }

  private error(
    buf: Buffer,
    start: number,
    end: number,
    out: Buffer | undefined,
    substituted: boolean,
  ): void {
    const head = this.queue[0];
    let statementId: number | null = null;
    switch (head?.kind) {
      case 'query':
      case 'function':
        statementId = head.id;
        break;
      case 'execute':
        statementId = head.id;
        break;
      case 'parse': {
        // The statement never ran: refused here, or PostgreSQL could not prepare it. A Bind
        // sent right after it in the same pipeline shows the parameters it would have run with.
        const next = this.queue[1];
        statementId = this.recorder.statement({
          text: head.statement.text,
          protocol: head.statement.name ? 'prepared' : 'extended',
          preparedName: head.statement.name || null,
          parameters:
            next?.kind === 'bind' && next.portal.statement === head.statement ? next.portal.parameters : [],
        });
        this.decided(statementId, head.verdict);
        break;
      }
      case 'bind': {
        const statement = head.portal.statement;
        if (statement) {
          statementId = this.recorder.statement({
            text: statement.text,
            protocol: statement.name ? 'prepared' : 'extended',
            preparedName: statement.name || null,
            parameters: head.portal.parameters,
          });
          this.decided(statementId, head.verdict ?? statement.decision);
        }
        break;
      }
    }
    const r = this.running;
    if (r !== null && (r.rows > 0 || r.columns.length > 0 || r.copyOut)) {
      this.finishResult(null);
    }
    this.running = null;
    const final = out && out.length > 0 ? messageText(out, 0, out.length) : messageText(buf, start, end);
    this.recorder.error({ ...final, statementId, source: substituted ? 'pgwarden' : 'upstream' });
    if (head?.kind === 'query' || head?.kind === 'function') return;
    // In the extended protocol PostgreSQL skips everything up to the next Sync.
    while (this.queue.length > 0) {
      const kind = this.queue[0]?.kind;
      if (kind === 'sync' || kind === 'query' || kind === 'function') break;
      this.queue.shift();
    }
  }

  /** The statement answering now, for notices. */
  private currentId(): number | null {
    if (this.running) return this.running.id;
    const head = this.queue[0];
    if ((head?.kind === 'query' || head?.kind === 'function' || head?.kind === 'execute') && head.id !== 0) {
      return head.id;
    }
    return null;
  }
}

const NO_APPROVALS: readonly ApprovalObservation[] = [];

/**
 * One DecisionInput per gate decision, which is never changed once made: every
 * Execute of a prepared statement hands the recorder the same object, whose
 * JSON the recorder then writes once.
 */
const DECISION_INPUTS = new WeakMap<GateDecision, DecisionInput>();
const TEXT_OID = 25;
const BYTEA_OID = 17;

/** A message of several statements is recorded with one decision: the first statement's kind, every name. */
function mergedFacts(facts: readonly StatementFacts[]): FactsInput | null {
  const [first] = facts;
  if (first === undefined) return null;
  if (facts.length === 1) return first;
  const all = (pick: (f: StatementFacts) => readonly string[]) => [...new Set(facts.flatMap(pick))];
  return {
    kind: first.kind,
    tablesRead: all((f) => f.tablesRead),
    tablesWritten: all((f) => f.tablesWritten),
    functions: all((f) => f.functions),
    locksRows: facts.some((f) => f.locksRows),
    settings: facts.flatMap((f) => f.settings),
  };
}

/** A FunctionCall as the gate judged it, `SELECT schema.function($1, …)`, with its arguments. */
function functionCall(
  r: MessageReader,
  buf: Buffer,
  start: number,
  end: number,
  verdict: TapVerdict,
): { text: string; parameters: Cell[] } {
  r.reset(buf, start + 5, end);
  const oid = r.int32() >>> 0;
  const parameters = readValues(r, []);
  const name =
    verdict !== null && verdict !== 'recording-refused' ? verdict.facts[0]?.functions[0] : undefined;
  const args = parameters.map((_, i) => `$${i + 1}`).join(', ');
  return {
    text: name ? `SELECT ${name}(${args})` : `-- FunctionCall of the function with OID ${oid}`,
    parameters,
  };
}

/**
 * The relay's upstream visitor with the tap looking on: a message the tap
 * needs whole is read whole even when no other stage wanted it (the stages
 * forward such a message unchanged), and the tap sees what the stages sent on.
 */
export function tapUpstream(
  inner: FrameVisitor,
  tap: SessionTap,
  substitution: ErrorSubstitution | null,
): FrameVisitor {
  return {
    onHeader: (code, length) => {
      const innerWhole = inner.onHeader(code, length);
      const tapWhole = tap.wantsWhole(code);
      if (!innerWhole && !tapWhole) tap.streamed(code, length);
      return innerWhole || tapWhole;
    },
    onMessage: (code, buf, start, end) => {
      const before = substitution?.replaced ?? 0;
      const out = inner.onMessage(code, buf, start, end);
      tap.received(code, buf, start, end, out, (substitution?.replaced ?? 0) !== before);
      return out;
    },
  };
}
