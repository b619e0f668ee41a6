import { isUtf8 } from 'node:buffer';
import { type HashKey, hashInteger, hashText, hashUuid } from './hash.js';
import { partialMask, partialMaskBytes } from './partial.js';
import { typeFamily } from './type-families.js';

/**
 * A masking strategy, as a column rule of the policy names it. The policy compiler
 * builds these (keepFirst/keepLast default to 0; the hash key is hashKey() of a Secret's bytes).
 */
export type MaskStrategy =
  | { readonly strategy: 'redact' }
  | { readonly strategy: 'partial'; readonly keepFirst: number; readonly keepLast: number }
  | { readonly strategy: 'hash'; readonly key: HashKey }
  | { readonly strategy: 'null' };

/** The strategies that can replace part of a text: SQL NULL is an outcome for a whole value only. */
export type SpanStrategy = Exclude<MaskStrategy, { strategy: 'null' }>;

/** A column's format code in RowDescription / Bind: 0 text, 1 binary. */
export type ValueFormat = 'text' | 'binary';

/** The redact placeholder for character data. */
const REDACTED = '[redacted]';

/**
 * A text (a whole value, or a span a detector found) under a strategy:
 * redact → "[redacted]", partial → partialMask, hash → "h:" + 16 hex digits.
 */
export function maskText(strategy: SpanStrategy, text: string): string {
  switch (strategy.strategy) {
    case 'redact':
      return REDACTED;
    case 'partial':
      return partialMask(text, strategy.keepFirst, strategy.keepLast);
    case 'hash':
      return hashText(strategy.key, text);
  }
}

/**
 * One column value of a DataRow under a strategy; null is SQL NULL (DataRow length
 * -1), and a NULL value stays NULL. The result is always a valid value of the column's
 * type in the column's format, or NULL where the type has no masked form:
 *
 * - character types (text, varchar, bpchar, name): redact → "[redacted]",
 *   partial → partialMask, hash → "h:" + 16 hex digits;
 * - json, jsonb: the same results written as a JSON string ("\"[redacted]\"");
 *   partial of a document that is not a string scalar yields the redact result;
 * - int2, int4, int8: hash → a non-negative integer of the same type; redact and
 *   partial → NULL;
 * - uuid: hash → a version 8 uuid; redact and partial → NULL;
 * - every other type: NULL.
 *
 * Redact yields NULL for non-character types because no number or uuid is a
 * placeholder that cannot be mistaken for data. Returned buffers may be shared
 * constants: callers copy them into the outgoing message and never write to them.
 * Character data is taken to be UTF-8 (client_encoding of a masked session);
 * partial masking of bytes that are not UTF-8 yields the redact placeholder.
 */
export function maskValue(
  strategy: MaskStrategy,
  value: Buffer | null,
  format: ValueFormat,
  typeOid: number,
): Buffer | null {
  if (value === null || strategy.strategy === 'null') return null;
  switch (typeFamily(typeOid)) {
    case 'text':
      return maskCharacters(strategy, value);
    case 'json':
      return maskJson(strategy, value, false);
    case 'jsonb':
      return maskJson(strategy, value, format === 'binary');
    case 'int2':
      return strategy.strategy === 'hash' ? hashIntegerValue(strategy.key, value, format, 2) : null;
    case 'int4':
      return strategy.strategy === 'hash' ? hashIntegerValue(strategy.key, value, format, 4) : null;
    case 'int8':
      return strategy.strategy === 'hash' ? hashIntegerValue(strategy.key, value, format, 8) : null;
    case 'uuid':
      return strategy.strategy === 'hash' ? hashUuidValue(strategy.key, value, format) : null;
    case 'other':
      return null;
  }
}

const REDACTED_BYTES = Buffer.from(REDACTED);
const REDACTED_JSON = JSON.stringify(REDACTED);
const REDACTED_JSON_BYTES = Buffer.from(REDACTED_JSON);
/** jsonb's binary send format: version 1, then the JSON text. */
const JSONB_VERSION = 1;
const REDACTED_JSONB_BYTES = Buffer.from([JSONB_VERSION, ...REDACTED_JSON_BYTES]);

/** Character types: the binary format is the text bytes, so both formats mask alike. */
function maskCharacters(strategy: SpanStrategy, value: Buffer): Buffer {
  switch (strategy.strategy) {
    case 'redact':
      return REDACTED_BYTES;
    case 'partial':
      if (!isUtf8(value)) return REDACTED_BYTES;
      return partialMaskBytes(value, strategy.keepFirst, strategy.keepLast);
    case 'hash':
      // Hashing the bytes as sent, not a decoded string: equal bytes hash equally in any encoding.
      return Buffer.from(hashText(strategy.key, value), 'latin1');
  }
}

function maskJson(strategy: SpanStrategy, value: Buffer, versioned: boolean): Buffer | null {
  if (strategy.strategy === 'redact') return versioned ? REDACTED_JSONB_BYTES : REDACTED_JSON_BYTES;
  if (versioned && value[0] !== JSONB_VERSION) return null;
  const doc = versioned ? value.subarray(1) : value;
  // A JSON string scalar is masked by its content, so "alice@example.com" as json
  // hashes like the same text in a text column.
  const scalar = stringScalar(doc);
  let masked: string;
  if (strategy.strategy === 'hash') masked = hashText(strategy.key, scalar ?? doc);
  else if (scalar !== undefined) masked = partialMask(scalar, strategy.keepFirst, strategy.keepLast);
  else return versioned ? REDACTED_JSONB_BYTES : REDACTED_JSON_BYTES;
  const json = JSON.stringify(masked);
  if (!versioned) return Buffer.from(json);
  const out = Buffer.allocUnsafe(1 + Buffer.byteLength(json));
  out[0] = JSONB_VERSION;
  out.write(json, 1);
  return out;
}

function stringScalar(doc: Buffer): string | undefined {
  const text = doc.toString('utf8').trim();
  if (!text.startsWith('"')) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** PostgreSQL's integer output: optional minus, digits, no leading plus or spaces. */
const INTEGER_TEXT = /^-?\d{1,19}$/;

function hashIntegerValue(key: HashKey, value: Buffer, format: ValueFormat, bytes: 2 | 4 | 8): Buffer | null {
  let decimal: string;
  if (format === 'text') {
    decimal = value.toString('latin1');
    if (!INTEGER_TEXT.test(decimal)) return null;
  } else {
    if (value.length !== bytes) return null;
    decimal = String(bytes === 8 ? value.readBigInt64BE(0) : value.readIntBE(0, bytes));
  }
  const hashed = hashInteger(key, decimal, bytes);
  if (format === 'text') return Buffer.from(hashed.toString(), 'latin1');
  const out = Buffer.allocUnsafe(bytes);
  if (bytes === 8) out.writeBigInt64BE(hashed);
  else out.writeIntBE(Number(hashed), 0, bytes);
  return out;
}

/** uuid_out: 8-4-4-4-12 lowercase hex. */
const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function hashUuidValue(key: HashKey, value: Buffer, format: ValueFormat): Buffer | null {
  let canonical: string;
  if (format === 'text') {
    canonical = value.toString('latin1');
    if (!UUID_TEXT.test(canonical)) return null;
  } else {
    if (value.length !== 16) return null;
    canonical = uuidText(value);
  }
  const hashed = hashUuid(key, canonical);
  return format === 'text' ? Buffer.from(uuidText(hashed), 'latin1') : hashed;
}

function uuidText(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
