import { decodeErrorFields } from '../wire/error-response.js';
import type { MessageReader } from '../wire/reader.js';
import type { Cell } from './session-recorder.js';

/**
 * Turns the protocol messages a recording keeps into text: Bind parameters,
 * RowDescription columns, DataRow cells and ErrorResponse fields. Values in
 * text format are UTF-8 already; values in binary format are rendered as
 * PostgreSQL's text output for the common types and as `(binary) \x…` hex for
 * the rest, so a reader always sees which ones were sent in binary.
 */

/** Longest text kept of one parameter or cell; the rest is cut and marked (a bytea upload can be megabytes). */
export const MAX_VALUE_CHARS = 64 * 1024;

export interface WireColumn {
  name: string;
  typeOid: number;
  /** 0 text, 1 binary. */
  format: number;
}

export interface BindMessage {
  portal: string;
  statement: string;
  parameters: Cell[];
  /** Bind's result-column format codes: none (all text), one (for every column), or one per column. */
  resultFormats: number[];
}

/** The parameters of a Bind as text; `parameterTypes` are the Parse's declared types (0 or missing: unknown). */
export function decodeBind(
  r: MessageReader,
  buf: Buffer,
  start: number,
  end: number,
  parameterTypes: readonly number[],
): BindMessage {
  r.reset(buf, start + 5, end);
  const portal = r.cstring();
  const statement = r.cstring();
  const parameters = readValues(r, parameterTypes);
  return { portal, statement, parameters, resultFormats: int16s(r) };
}

/** Format codes, then length-prefixed values (as Bind and FunctionCall carry them), as text. */
export function readValues(r: MessageReader, types: readonly number[]): Cell[] {
  const formats = int16s(r);
  const count = r.int16();
  const values: Cell[] = [];
  for (let i = 0; i < count; i++) {
    const length = r.int32();
    if (length < 0) {
      values.push(null);
      continue;
    }
    const value = r.bytes(length);
    const format = formats.length === 1 ? formats[0] : (formats[i] ?? 0);
    values.push(format === 1 ? binaryText(types[i] ?? 0, value) : utf8Text(value));
  }
  return values;
}

/** The declared parameter types of a Parse. */
export function parseParameterTypes(r: MessageReader, buf: Buffer, start: number, end: number): number[] {
  r.reset(buf, start + 5, end);
  r.cstring();
  r.cstring();
  const count = r.int16();
  const types: number[] = [];
  for (let i = 0; i < count; i++) types.push(r.int32() >>> 0);
  return types;
}

export function decodeRowDescription(
  r: MessageReader,
  buf: Buffer,
  start: number,
  end: number,
): WireColumn[] {
  r.reset(buf, start + 5, end);
  const count = r.int16();
  const columns: WireColumn[] = [];
  for (let i = 0; i < count; i++) {
    const name = r.cstring();
    r.int32(); // table OID
    r.int16(); // attribute number
    const typeOid = r.int32() >>> 0;
    r.int16(); // type length
    r.int32(); // type modifier
    columns.push({ name, typeOid, format: r.int16() });
  }
  return columns;
}

/** Columns of a statement described before Bind chose the formats (Describe S reports text for all). */
export function withFormats(columns: readonly WireColumn[], formats: readonly number[]): WireColumn[] {
  if (formats.length === 0) return columns.map((c) => ({ ...c, format: 0 }));
  return columns.map((c, i) => ({ ...c, format: (formats.length === 1 ? formats[0] : formats[i]) ?? 0 }));
}

/** The cells of a DataRow as [start, end) byte ranges; start -1 for NULL. */
export function cellRanges(buf: Buffer, start: number, end: number): number[] {
  const count = buf.readInt16BE(start + 5);
  const ranges: number[] = [];
  let pos = start + 7;
  for (let i = 0; i < count && pos + 4 <= end; i++) {
    const length = buf.readInt32BE(pos);
    pos += 4;
    if (length < 0) ranges.push(-1, -1);
    else {
      ranges.push(pos, pos + length);
      pos += length;
    }
  }
  return ranges;
}

export function dataRowCells(buf: Buffer, ranges: readonly number[], columns: readonly WireColumn[]): Cell[] {
  const cells: Cell[] = [];
  for (let i = 0; i < ranges.length / 2; i++) {
    const from = ranges[2 * i] as number;
    if (from < 0) {
      cells.push(null);
      continue;
    }
    const value = buf.subarray(from, ranges[2 * i + 1]);
    const column = columns[i];
    cells.push(column?.format === 1 ? binaryText(column.typeOid, value) : utf8Text(value));
  }
  return cells;
}

/** Indexes of the cells that differ between the row PostgreSQL sent and the row the client got. */
export function changedCells(
  original: Buffer,
  originalRanges: readonly number[],
  delivered: Buffer,
  deliveredRanges: readonly number[],
): number[] {
  const changed: number[] = [];
  for (let i = 0; i < originalRanges.length / 2; i++) {
    const a = originalRanges[2 * i] as number;
    const b = deliveredRanges[2 * i] as number;
    if (a < 0 || b < 0) {
      if (a !== b) changed.push(i);
      continue;
    }
    const aEnd = originalRanges[2 * i + 1] as number;
    const bEnd = deliveredRanges[2 * i + 1] as number;
    if (original.compare(delivered, b, bEnd, a, aEnd) !== 0) changed.push(i);
  }
  return changed;
}

export interface MessageText {
  severity: string;
  code: string;
  message: string;
  detail: string | null;
  hint: string | null;
}

/** The fields of an ErrorResponse or NoticeResponse a recording keeps. */
export function messageText(buf: Buffer, start: number, end: number): MessageText {
  const f = decodeErrorFields(buf, start, end);
  return {
    severity: f.get('V') ?? f.get('S') ?? 'ERROR',
    code: f.get('C') ?? 'XX000',
    message: f.get('M') ?? '',
    detail: f.get('D') ?? null,
    hint: f.get('H') ?? null,
  };
}

function int16s(r: MessageReader): number[] {
  const n = r.int16();
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(r.int16());
  return out;
}

function utf8Text(value: Buffer): string {
  if (value.length <= MAX_VALUE_CHARS) return value.toString('utf8');
  return `${value.toString('utf8', 0, MAX_VALUE_CHARS)}… [cut by pgwarden, ${value.length} bytes]`;
}

const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

/** PostgreSQL's text output of a binary-format value for the common types; hex, marked binary, otherwise. */
export function binaryText(typeOid: number, v: Buffer): string {
  try {
    switch (typeOid) {
      case 16: // bool
        if (v.length === 1) return v[0] ? 't' : 'f';
        break;
      case 21: // int2
        if (v.length === 2) return String(v.readInt16BE(0));
        break;
      case 23: // int4
        if (v.length === 4) return String(v.readInt32BE(0));
        break;
      case 26: // oid
        if (v.length === 4) return String(v.readUInt32BE(0));
        break;
      case 20: // int8
        if (v.length === 8) return v.readBigInt64BE(0).toString();
        break;
      case 700: // float4
        if (v.length === 4) return String(v.readFloatBE(0));
        break;
      case 701: // float8
        if (v.length === 8) return String(v.readDoubleBE(0));
        break;
      case 19: // name
      case 25: // text
      case 114: // json
      case 142: // xml
      case 705: // unknown
      case 1042: // bpchar
      case 1043: // varchar
        return utf8Text(v);
      case 3802: // jsonb: a version byte, then the text
        if (v[0] === 1) return utf8Text(v.subarray(1));
        break;
      case 17: // bytea: its text output is hex
        return hex(v);
      case 2950: // uuid
        if (v.length === 16) {
          const h = v.toString('hex');
          return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
        }
        break;
      case 1082: // date: days since 2000-01-01
        if (v.length === 4)
          return new Date(PG_EPOCH_MS + v.readInt32BE(0) * 86_400_000).toISOString().slice(0, 10);
        break;
      case 1114: // timestamp
      case 1184: // timestamptz: microseconds since 2000-01-01 (UTC for timestamptz)
        if (v.length === 8) return timestampText(v.readBigInt64BE(0), typeOid === 1184);
        break;
      case 1700: // numeric
        return numericText(v);
    }
  } catch {
    // A value that does not match its type's binary layout falls through to hex.
  }
  return `(binary) ${hex(v)}`;
}

/** As PostgreSQL prints it: seconds, then the microseconds without trailing zeros; timestamptz in UTC. */
function timestampText(us: bigint, withZone: boolean): string {
  if (us === 0x7fffffffffffffffn) return 'infinity';
  if (us === -0x8000000000000000n) return '-infinity';
  let seconds = us / 1_000_000n;
  let micros = us % 1_000_000n;
  if (micros < 0n) {
    micros += 1_000_000n;
    seconds -= 1n;
  }
  const base = new Date(PG_EPOCH_MS + Number(seconds) * 1000).toISOString().slice(0, 19).replace('T', ' ');
  const fraction = micros === 0n ? '' : `.${micros.toString().padStart(6, '0').replace(/0+$/, '')}`;
  return `${base}${fraction}${withZone ? '+00' : ''}`;
}

function hex(v: Buffer): string {
  const shown = v.length > MAX_VALUE_CHARS / 2 ? v.subarray(0, MAX_VALUE_CHARS / 2) : v;
  const cut = shown.length < v.length ? `… [cut by pgwarden, ${v.length} bytes]` : '';
  return `\\x${shown.toString('hex')}${cut}`;
}

/** numeric's binary form: digit count, weight, sign, display scale, then base-10000 digits. */
function numericText(v: Buffer): string {
  const ndigits = v.readInt16BE(0);
  const weight = v.readInt16BE(2);
  const sign = v.readUInt16BE(4);
  const dscale = v.readInt16BE(6);
  if (sign === 0xc000) return 'NaN';
  if (sign === 0xd000) return 'Infinity';
  if (sign === 0xf000) return '-Infinity';
  const digits: number[] = [];
  for (let i = 0; i < ndigits; i++) digits.push(v.readInt16BE(8 + 2 * i));
  let int = '';
  for (let i = 0; i <= weight; i++) {
    const d = digits[i] ?? 0;
    int += i === 0 ? String(d) : String(d).padStart(4, '0');
  }
  if (int === '') int = '0';
  let frac = '';
  for (let i = weight + 1; frac.length < dscale; i++) {
    const d = i < 0 ? 0 : (digits[i] ?? 0);
    frac += String(d).padStart(4, '0');
  }
  frac = frac.slice(0, dscale);
  return `${sign === 0x4000 ? '-' : ''}${int}${dscale > 0 ? `.${frac}` : ''}`;
}
