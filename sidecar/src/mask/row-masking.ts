import { isAscii } from 'node:buffer';
import type { DetectorName } from '@pgwarden/crds';
import { BackendCode } from '../wire/codes.js';
import { detect } from './detectors/index.js';
import type { OutputMask, StatementMasks } from './resolve.js';
import type { MaskedColumn, SensitiveCatalog } from './sensitive-catalog.js';
import { maskSpans } from './spans.js';
import { type MaskStrategy, maskValue, type ValueFormat } from './strategies.js';
import { typeFamily } from './type-families.js';

/**
 * How each column of one result is rewritten, from its RowDescription: the
 * columns PostgreSQL reports with a table OID and attnum are looked up in the
 * catalog; the statement analysis adds result columns computed from masked
 * columns (table OID 0). Every other text value goes through the detectors.
 */
export interface ResultPlan {
  readonly columns: readonly ColumnPlan[];
}

interface ColumnPlan {
  /** The column's strategy, or null to leave it to the detectors. */
  readonly strategy: MaskStrategy | null;
  readonly typeOid: number;
  readonly format: ValueFormat;
  /** Detectors run on it: a text value (any type in text format, character types in binary). */
  readonly detect: boolean;
}

const REDACT: MaskStrategy = Object.freeze({ strategy: 'redact' });

/** Parses a RowDescription and decides every column; null when nothing in this result needs rewriting. */
export function planResult(
  buf: Buffer,
  start: number,
  end: number,
  masks: StatementMasks,
  catalog: SensitiveCatalog,
  detectors: readonly DetectorName[],
): ResultPlan | null {
  let pos = start + 5;
  const count = buf.readInt16BE(pos);
  pos += 2;
  const columns: ColumnPlan[] = [];
  let work = false;
  for (let i = 0; i < count; i++) {
    const nul = buf.indexOf(0, pos);
    if (nul < 0 || nul + 19 > end) throw new Error('RowDescription is shorter than its fields');
    pos = nul + 1;
    const tableOid = buf.readUInt32BE(pos);
    const attnum = buf.readInt16BE(pos + 4);
    const typeOid = buf.readUInt32BE(pos + 6);
    const format: ValueFormat = buf.readInt16BE(pos + 16) === 1 ? 'binary' : 'text';
    pos += 18;
    const byColumn: MaskedColumn | null = tableOid !== 0 ? catalog.columnAt(tableOid, attnum) : null;
    const byPosition: OutputMask | null =
      masks.outputs?.[i] ?? (masks.conservative && tableOid === 0 ? CONSERVATIVE : null);
    const strategy =
      byColumn?.strategy ??
      (byPosition ? (byPosition.kind === 'column' ? byPosition.column.strategy : REDACT) : null);
    const scan =
      detectors.length > 0 &&
      strategy === null &&
      !FIXED_FORMAT_TYPES.has(typeOid) &&
      (format === 'text' || isCharacterData(typeOid));
    if (strategy !== null || scan) work = true;
    columns.push({ strategy, typeOid, format, detect: scan });
  }
  return work ? { columns } : null;
}

const CONSERVATIVE: OutputMask = Object.freeze({ kind: 'derived', source: '' });

/**
 * Types whose text form cannot hold what a detector looks for (at most 10 digits
 * in a row, or a fixed shape): bool, int2, int4, oid, date, time,
 * timestamp, timestamptz, interval, timetz, uuid. int8, numeric and floats can print a card
 * number and are scanned.
 */
const FIXED_FORMAT_TYPES = new Set([16, 21, 23, 26, 1082, 1083, 1114, 1184, 1186, 1266, 2950]);

function isCharacterData(typeOid: number): boolean {
  const family = typeFamily(typeOid);
  return family === 'text' || family === 'json' || family === 'jsonb';
}

/**
 * A DataRow under the plan: the rewritten message, or undefined when no value
 * changed (the original bytes are forwarded).
 */
export function maskDataRow(
  plan: ResultPlan,
  buf: Buffer,
  start: number,
  end: number,
  detectors: readonly DetectorName[],
): Buffer | undefined {
  let pos = start + 5;
  const count = buf.readInt16BE(pos);
  pos += 2;
  let parts: (Buffer | null)[] | null = null;
  for (let i = 0; i < count; i++) {
    const length = buf.readInt32BE(pos);
    pos += 4;
    const value = length < 0 ? null : buf.subarray(pos, pos + length);
    if (length > 0) pos += length;
    if (pos > end) throw new Error('DataRow is shorter than its values');
    const column = plan.columns[i];
    let masked: Buffer | null | undefined;
    // NULL stays NULL under every strategy: not a change, so a row of NULLs is forwarded as it is.
    if (value !== null && column?.strategy)
      masked = maskValue(column.strategy, value, column.format, column.typeOid);
    else if (value !== null && column?.detect)
      masked = detectInValue(value, column.typeOid, column.format, detectors);
    if (masked !== undefined && parts === null) {
      parts = [];
      // Copy the values before this one as they are.
      let p = start + 7;
      for (let j = 0; j < i; j++) {
        const l = buf.readInt32BE(p);
        p += 4;
        parts.push(l < 0 ? null : buf.subarray(p, p + l));
        if (l > 0) p += l;
      }
    }
    if (parts !== null) parts.push(masked === undefined ? value : masked);
  }
  return parts === null ? undefined : encodeDataRow(parts);
}

/** A value with what the detectors find masked; undefined when they find nothing. */
function detectInValue(
  value: Buffer,
  typeOid: number,
  format: ValueFormat,
  detectors: readonly DetectorName[],
): Buffer | null | undefined {
  const family = typeFamily(typeOid);
  const jsonbBinary = family === 'jsonb' && format === 'binary';
  const bytes = jsonbBinary ? value.subarray(1) : value;
  // Latin-1 decoding of ASCII gives the same string, several times faster.
  const text = bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8');
  const spans = detect(text, detectors);
  if (spans.length === 0) return undefined;
  if (family === 'text') return Buffer.from(maskSpans(text, spans, REDACT_SPAN));
  if (family === 'json' || family === 'jsonb') {
    const masked = maskSpans(text, spans, REDACT_SPAN);
    const json = isJson(masked) ? masked : JSON.stringify('[redacted]');
    return jsonbBinary ? Buffer.concat([value.subarray(0, 1), Buffer.from(json)]) : Buffer.from(json);
  }
  // A number or date holding what looks like a card number has no masked form of its type.
  return null;
}

const REDACT_SPAN = Object.freeze({ strategy: 'redact' as const });

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** A text under the detectors (error fields, COPY rows, function results). */
export function maskDetectedText(text: string, detectors: readonly DetectorName[]): string {
  if (detectors.length === 0) return text;
  const spans = detect(text, detectors);
  return spans.length === 0 ? text : maskSpans(text, spans, REDACT_SPAN);
}

function encodeDataRow(values: readonly (Buffer | null)[]): Buffer {
  let size = 7;
  for (const v of values) size += 4 + (v?.length ?? 0);
  const out = Buffer.allocUnsafe(size);
  out[0] = BackendCode.DataRow;
  out.writeInt32BE(size - 1, 1);
  out.writeInt16BE(values.length, 5);
  let pos = 7;
  for (const v of values) {
    if (v === null) {
      out.writeInt32BE(-1, pos);
      pos += 4;
    } else {
      out.writeInt32BE(v.length, pos);
      v.copy(out, pos + 4);
      pos += 4 + v.length;
    }
  }
  return out;
}
