import type { DetectorName } from '@pgwarden/crds';
import type { StatementFacts } from '../analyze/facts.js';
import { BackendCode, FrontendCode } from '../wire/codes.js';
import { DROP } from '../wire/framer.js';
import { MessageReader } from '../wire/reader.js';
import { MessageWriter } from '../wire/writer.js';
import { maskCopyRow } from './copy-rows.js';
import { maskErrorResponse } from './error-masking.js';
import type { CopyMasks, StatementMasks } from './resolve.js';
import { maskDataRow, maskDetectedText, planResult, type ResultPlan } from './row-masking.js';
import type { SensitiveCatalog } from './sensitive-catalog.js';

/** A statement the gate allowed, with the masks of its result (and of the query a DECLARE wraps). */
export interface AllowedStatement {
  readonly facts: StatementFacts;
  readonly masks: StatementMasks;
  readonly innerMasks: StatementMasks | null;
}

export interface ResultMaskingDeps {
  /** The catalog snapshot in force. */
  catalog(): SensitiveCatalog;
  detectors: readonly DetectorName[];
  /** A statement changed the schema: masked columns must be read again before the next statement. */
  schemaChanged(): void;
  /** A row had a value masked (for the metrics). */
  rowMasked(): void;
}

/** What each message sent upstream will be answered with, in order (the protocol answers in order). */
type Pending =
  | { kind: 'query'; statements: readonly AllowedStatement[]; index: number }
  | { kind: 'parse'; name: string; statement: AllowedStatement | null }
  | { kind: 'bind'; portal: string; statement: string }
  | { kind: 'describe'; portal: string | null; swallow: boolean }
  | { kind: 'execute'; portal: string }
  | { kind: 'close'; what: 'S' | 'P'; name: string }
  | { kind: 'sync' }
  | { kind: 'function' };

interface Portal {
  statement: AllowedStatement | null;
  plan: ResultPlan | null;
}

/** Masks for a result whose statement pgwarden cannot see (a cursor a function opened): computed columns redacted. */
const UNKNOWN_SOURCE: StatementMasks = Object.freeze({
  outputs: null,
  conservative: true,
  touched: true,
  filtersOn: null,
  copy: null,
});

/**
 * Masks the results of one session on the wire. It follows the protocol's
 * request/response order to know which statement each RowDescription and
 * DataRow belongs to: simple Query statement by statement, and in the extended
 * protocol by prepared statement and portal. Before an Execute whose portal
 * the client did not describe, it sends its own Describe (answer dropped), so
 * every result it masks has a RowDescription: the column types and formats a
 * masked value must keep. Rows are rewritten one message at a time.
 */
export class ResultMasking {
  private readonly queue: Pending[] = [];
  private readonly statements = new Map<string, AllowedStatement | null>();
  private readonly portals = new Map<string, Portal>();
  /** DECLAREd cursors: FETCH results are masked like the cursor's query. */
  private readonly cursors = new Map<string, StatementMasks>();
  /** Portals the client described since their Bind, on the sending side. */
  private readonly described = new Set<string>();
  /** The result being streamed: its rows are rewritten under this plan. */
  private plan: ResultPlan | null = null;
  private copyOut = false;
  /** The COPY … TO being streamed, when its rows have masked fields; its header row is not data. */
  private copy: { masks: CopyMasks; headerPending: boolean } | null = null;
  private readonly reader = new MessageReader();

  constructor(private readonly deps: ResultMaskingDeps) {}

  /**
   * A message going upstream (after the gate), with the statements the gate
   * allowed for a Query or Parse. Returns what to send instead, if anything.
   */
  sent(
    code: number,
    buf: Buffer,
    start: number,
    end: number,
    allowed: readonly AllowedStatement[],
  ): Buffer | undefined {
    switch (code) {
      case FrontendCode.Query:
        this.queue.push({ kind: 'query', statements: allowed, index: 0 });
        return undefined;
      case FrontendCode.Parse: {
        const name = this.reader.reset(buf, start + 5, end).cstring();
        this.queue.push({ kind: 'parse', name, statement: allowed[0] ?? null });
        return undefined;
      }
      case FrontendCode.Bind: {
        const r = this.reader.reset(buf, start + 5, end);
        const portal = r.cstring();
        this.described.delete(portal);
        this.queue.push({ kind: 'bind', portal, statement: r.cstring() });
        return undefined;
      }
      case FrontendCode.Describe: {
        const r = this.reader.reset(buf, start + 5, end);
        const what = r.byte();
        const name = r.cstring();
        if (what === 0x50) this.described.add(name);
        this.queue.push({ kind: 'describe', portal: what === 0x50 ? name : null, swallow: false });
        return undefined;
      }
      case FrontendCode.Execute: {
        const portal = this.reader.reset(buf, start + 5, end).cstring();
        if (this.described.has(portal)) {
          this.queue.push({ kind: 'execute', portal });
          return undefined;
        }
        // Describe the portal first, so its rows come with the RowDescription masking needs.
        this.described.add(portal);
        this.queue.push({ kind: 'describe', portal, swallow: true }, { kind: 'execute', portal });
        const describe = new MessageWriter(FrontendCode.Describe, portal.length + 8)
          .byte(0x50)
          .cstring(portal)
          .finish();
        return Buffer.concat([describe, buf.subarray(start, end)]);
      }
      case FrontendCode.Close: {
        const r = this.reader.reset(buf, start + 5, end);
        const what = r.byte() === 0x50 ? 'P' : 'S';
        this.queue.push({ kind: 'close', what, name: r.cstring() });
        return undefined;
      }
      case FrontendCode.Sync:
        this.queue.push({ kind: 'sync' });
        return undefined;
      case FrontendCode.FunctionCall:
        this.queue.push({ kind: 'function' });
        return undefined;
      default:
        return undefined;
    }
  }

  /** For each upstream header: true when the message must arrive whole to be read or rewritten. */
  wantsWhole(code: number): boolean {
    switch (code) {
      case BackendCode.DataRow:
        return this.activePlan() !== null;
      case BackendCode.CopyData:
        return this.copyOut && (this.copy !== null || this.deps.detectors.length > 0);
      case BackendCode.RowDescription:
      case BackendCode.NoData:
      case BackendCode.ErrorResponse:
      case BackendCode.NoticeResponse:
      case BackendCode.FunctionCallResponse:
      case BackendCode.CommandComplete:
        return true;
      default:
        this.onHeaderOnly(code);
        return false;
    }
  }

  /** For each message wantsWhole asked for: its replacement, DROP, or undefined to forward it. */
  received(code: number, buf: Buffer, start: number, end: number): Buffer | undefined {
    switch (code) {
      case BackendCode.DataRow: {
        const plan = this.activePlan();
        const masked = plan ? maskDataRow(plan, buf, start, end, this.deps.detectors) : undefined;
        if (masked !== undefined) this.deps.rowMasked();
        return masked;
      }
      case BackendCode.RowDescription:
        return this.rowDescription(buf, start, end);
      case BackendCode.NoData: {
        const head = this.queue[0];
        if (head?.kind === 'describe') {
          this.queue.shift();
          if (head.portal !== null) this.portal(head.portal).plan = null;
          if (head.swallow) return DROP;
        }
        return undefined;
      }
      case BackendCode.CommandComplete:
        this.completed();
        return undefined;
      case BackendCode.CopyData:
        return this.maskCopyData(buf, start, end);
      case BackendCode.FunctionCallResponse:
        return this.maskFunctionResult(buf, start, end);
      case BackendCode.NoticeResponse:
        return maskErrorResponse(buf, start, end, this.touched(), this.deps.detectors);
      case BackendCode.ErrorResponse: {
        const masked = maskErrorResponse(buf, start, end, this.touched(), this.deps.detectors);
        this.failed();
        return masked;
      }
      default:
        return undefined;
    }
  }

  /** Messages that change the tracking but are forwarded as they are. */
  private onHeaderOnly(code: number): void {
    const head = this.queue[0];
    switch (code) {
      case BackendCode.ParseComplete:
        if (head?.kind === 'parse') {
          this.queue.shift();
          this.statements.set(head.name, head.statement);
        }
        return;
      case BackendCode.BindComplete:
        if (head?.kind === 'bind') {
          this.queue.shift();
          this.portals.set(head.portal, {
            statement: this.statements.get(head.statement) ?? null,
            plan: null,
          });
        }
        return;
      case BackendCode.CloseComplete:
        if (head?.kind === 'close') {
          this.queue.shift();
          if (head.what === 'S') this.statements.delete(head.name);
          else this.portals.delete(head.name);
        }
        return;
      case BackendCode.PortalSuspended:
      case BackendCode.EmptyQueryResponse:
        this.endResult();
        if (head?.kind === 'execute') this.queue.shift();
        else if (head?.kind === 'query') head.index++;
        return;
      case BackendCode.CopyOutResponse: {
        this.copyOut = true;
        const masks = this.currentStatement()?.masks.copy ?? null;
        this.copy = masks ? { masks, headerPending: masks.format.header } : null;
        return;
      }
      case BackendCode.CopyDone:
        this.copyOut = false;
        this.copy = null;
        return;
      case BackendCode.ReadyForQuery:
        this.endResult();
        if (head?.kind === 'query' || head?.kind === 'sync' || head?.kind === 'function') this.queue.shift();
        // Portals are kept: inside a transaction block they outlive Sync (JDBC fetches a
        // named portal in parts, one Execute + Sync each), and the client's Describe is
        // not repeated. A Bind of the same name replaces the entry, a Close removes it.
        return;
    }
  }

  private rowDescription(buf: Buffer, start: number, end: number): Buffer | undefined {
    const head = this.queue[0];
    let statement: AllowedStatement | null = null;
    let portal: Portal | null = null;
    let swallow = false;
    if (head?.kind === 'query') statement = head.statements[head.index] ?? null;
    else if (head?.kind === 'describe') {
      this.queue.shift();
      swallow = head.swallow;
      if (head.portal !== null) {
        portal = this.portal(head.portal);
        statement = portal.statement;
      }
    }
    const masks = this.masksOf(statement);
    const plan = planResult(buf, start, end, masks, this.deps.catalog(), this.deps.detectors);
    if (portal) portal.plan = plan;
    else if (head?.kind === 'query') this.plan = plan;
    return swallow ? DROP : undefined;
  }

  /** The masks of a statement's result; FETCH takes its cursor's. */
  private masksOf(statement: AllowedStatement | null): StatementMasks {
    if (statement === null) return UNKNOWN_SOURCE;
    const ref = statement.facts.refersTo;
    if (ref?.kind === 'cursor' && statement.facts.nodeType === 'FetchStmt') {
      return (ref.name !== null && this.cursors.get(ref.name)) || UNKNOWN_SOURCE;
    }
    return statement.masks;
  }

  /** CommandComplete: the statement ran; what it defined or dropped now exists. */
  private completed(): void {
    const head = this.queue[0];
    let statement: AllowedStatement | null = null;
    if (head?.kind === 'query') statement = head.statements[head.index++] ?? null;
    else if (head?.kind === 'execute') {
      this.queue.shift();
      statement = this.portals.get(head.portal)?.statement ?? null;
    }
    this.endResult();
    if (statement) this.apply(statement);
  }

  private apply({ facts, innerMasks }: AllowedStatement): void {
    if (facts.defines?.kind === 'cursor') this.cursors.set(facts.defines.name, innerMasks ?? UNKNOWN_SOURCE);
    else if (facts.nodeType === 'ClosePortalStmt') {
      if (facts.refersTo?.name) this.cursors.delete(facts.refersTo.name);
      else this.cursors.clear();
    } else if (facts.nodeType === 'DiscardStmt') this.cursors.clear();
    if (
      facts.kind === 'ddl' ||
      facts.kind === 'dcl' ||
      facts.kind === 'procedural' ||
      facts.kind === 'admin'
    ) {
      this.deps.schemaChanged();
    }
  }

  /** An error ends the statement; in the extended protocol PostgreSQL skips to the next Sync. */
  private failed(): void {
    this.endResult();
    const head = this.queue[0];
    if (head?.kind === 'query') {
      head.index = head.statements.length;
      return;
    }
    while (this.queue.length > 0 && this.queue[0]?.kind !== 'sync' && this.queue[0]?.kind !== 'function') {
      this.queue.shift();
    }
  }

  private endResult(): void {
    this.plan = null;
    this.copyOut = false;
    this.copy = null;
  }

  /** The plan of the rows arriving now: an Execute's comes from its portal's RowDescription. */
  private activePlan(): ResultPlan | null {
    const head = this.queue[0];
    if (head?.kind === 'execute') return this.portals.get(head.portal)?.plan ?? null;
    return this.plan;
  }

  /** Whether the statement answering now referenced masked columns (unknown: assume it did). */
  private touched(): boolean {
    const head = this.queue[0];
    if (head?.kind !== 'query' && head?.kind !== 'execute' && head?.kind !== 'parse') return true;
    const statement = this.currentStatement();
    return statement ? this.masksOf(statement).touched : true;
  }

  /** The statement whose answer is arriving now, when pgwarden knows it. */
  private currentStatement(): AllowedStatement | null {
    const head = this.queue[0];
    if (head?.kind === 'query') return head.statements[head.index] ?? null;
    if (head?.kind === 'execute') return this.portals.get(head.portal)?.statement ?? null;
    if (head?.kind === 'parse') return head.statement;
    return null;
  }

  private portal(name: string): Portal {
    let portal = this.portals.get(name);
    if (!portal) {
      portal = { statement: null, plan: null };
      this.portals.set(name, portal);
    }
    return portal;
  }

  private maskCopyData(buf: Buffer, start: number, end: number): Buffer | undefined {
    const text = buf.toString('utf8', start + 5, end);
    let masked: string;
    const copy = this.copy;
    if (copy && !copy.headerPending) {
      // One row per CopyData, ending in a newline.
      const newline = text.endsWith('\n') ? '\n' : '';
      const row = newline ? text.slice(0, -1) : text;
      const rewritten = maskCopyRow(row, copy.masks.format, copy.masks.columns, this.deps.detectors);
      masked = rewritten === undefined ? text : rewritten + newline;
    } else {
      if (copy) copy.headerPending = false;
      masked = maskDetectedText(text, this.deps.detectors);
    }
    if (masked === text) return undefined;
    this.deps.rowMasked();
    const body = Buffer.from(masked);
    return new MessageWriter(BackendCode.CopyData, body.length + 5).bytes(body).finish();
  }

  private maskFunctionResult(buf: Buffer, start: number, end: number): Buffer | undefined {
    const length = buf.readInt32BE(start + 5);
    if (length < 0 || this.deps.detectors.length === 0) return undefined;
    const text = buf.toString('utf8', start + 9, end);
    const masked = maskDetectedText(text, this.deps.detectors);
    if (masked === text) return undefined;
    const body = Buffer.from(masked);
    return new MessageWriter(BackendCode.FunctionCallResponse, body.length + 9)
      .int32(body.length)
      .bytes(body)
      .finish();
  }
}
