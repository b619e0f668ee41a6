import type { DetectorName } from '@pgwarden/crds';
import type { CopyFormat } from '../analyze/columns.js';
import { maskDetectedText } from './row-masking.js';
import { type MaskStrategy, maskValue } from './strategies.js';

/**
 * COPY … TO STDOUT rows in text or CSV format, masked field by field.
 * PostgreSQL sends one CopyData message per row (the header row first, with
 * HEADER), so each message is parsed, its masked fields replaced, and written
 * back in the same format; the detectors then run over the whole row.
 */

/** A masked field: its strategy and the column's type (text when unknown). */
export interface CopyColumnMask {
  readonly strategy: MaskStrategy;
  readonly typeOid: number;
}

/** A row (without its trailing newline) → the masked row, or undefined when nothing changed. */
export function maskCopyRow(
  row: string,
  format: CopyFormat,
  columns: readonly (CopyColumnMask | null)[],
  detectors: readonly DetectorName[],
): string | undefined {
  let out = row;
  if (columns.some((c) => c !== null)) {
    const fields = format.kind === 'csv' ? splitCsv(row, format) : splitText(row, format);
    let changed = false;
    const masked = fields.map((field, i) => {
      const column = columns[i];
      if (!column) return field.raw;
      changed = true;
      const value = maskValue(
        column.strategy,
        field.value === null ? null : Buffer.from(field.value),
        'text',
        column.typeOid,
      );
      const text = value === null ? null : value.toString('utf8');
      return format.kind === 'csv' ? writeCsv(text, format) : writeText(text, format);
    });
    if (changed) out = masked.join(format.delimiter);
  }
  out = maskDetectedText(out, detectors);
  return out === row ? undefined : out;
}

interface Field {
  /** The field as written in the row. */
  raw: string;
  /** Its value; null for NULL. */
  value: string | null;
}

const TEXT_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** Text format: fields split on the delimiter, backslash escapes decoded, the NULL string recognised. */
function splitText(row: string, format: CopyFormat): Field[] {
  const fields: Field[] = [];
  let start = 0;
  for (let i = 0; i <= row.length; i++) {
    if (i === row.length || row[i] === format.delimiter) {
      const raw = row.slice(start, i);
      fields.push({ raw, value: raw === format.nullString ? null : unescapeText(raw) });
      start = i + 1;
    } else if (row[i] === '\\') i++;
  }
  return fields;
}

function unescapeText(raw: string): string {
  return raw.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(Number.parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(Number.parseInt(e, 8));
    return TEXT_ESCAPES[e] ?? e;
  });
}

function writeText(value: string | null, format: CopyFormat): string {
  if (value === null) return format.nullString;
  let out = '';
  for (const ch of value) {
    if (ch === '\\') out += '\\\\';
    else if (ch === format.delimiter) out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else out += ch;
  }
  return out;
}

/** CSV: quoted fields may hold delimiters, quotes (escaped) and newlines; an unquoted NULL string is NULL. */
function splitCsv(row: string, format: CopyFormat): Field[] {
  const fields: Field[] = [];
  let i = 0;
  for (;;) {
    const start = i;
    let value = '';
    let quoted = false;
    while (i < row.length && row[i] !== format.delimiter) {
      if (row[i] === format.quote) {
        quoted = true;
        i++;
        while (i < row.length) {
          const ch = row[i] as string;
          const next = row[i + 1];
          // An escaped quote (or, with an ESCAPE other than QUOTE, an escaped escape) is literal.
          if (
            ch === format.escape &&
            (next === format.quote || (format.escape !== format.quote && next === format.escape))
          ) {
            value += next;
            i += 2;
          } else if (ch === format.quote) {
            i++;
            break;
          } else {
            value += ch;
            i++;
          }
        }
      } else value += row[i++];
    }
    const raw = row.slice(start, i);
    fields.push({ raw, value: !quoted && value === format.nullString ? null : value });
    if (i >= row.length) return fields;
    i++;
  }
}

function writeCsv(value: string | null, format: CopyFormat): string {
  if (value === null) return format.nullString;
  const needsQuotes =
    value === format.nullString ||
    value.includes(format.delimiter) ||
    value.includes(format.quote) ||
    value.includes('\n') ||
    value.includes('\r');
  if (!needsQuotes) return value;
  let out = format.quote;
  for (const ch of value) {
    if (ch === format.quote || ch === format.escape) out += format.escape;
    out += ch;
  }
  return out + format.quote;
}
