import type { DetectorName } from '@pgwarden/crds';
import { MessageWriter } from '../wire/writer.js';
import { maskDetectedText } from './row-masking.js';

/**
 * ErrorResponse and NoticeResponse text can carry data: a unique violation's
 * DETAIL ("Key (ssn)=(123-45-6789) already exists."), a constraint's "Failing
 * row contains (…)", a cast's "invalid input syntax for type integer:
 * "123-45-6789"". After a statement that touched masked columns, every value
 * PostgreSQL quotes in these fields is redacted; the detectors run on every
 * error and notice.
 */

/** Fields that carry human-readable text: message, detail, hint, context, internal query. */
const TEXT_FIELDS = new Set(['M', 'D', 'H', 'W', 'q']);

const KEY_VALUES = /(\)=\()(.*)(\))/g;
const FAILING_ROW = /(Failing row contains \()(.*)(\))/g;
const QUOTED = /"((?:[^"]|"")*)"/g;
const PLACEHOLDER = '[redacted]';

export function maskErrorResponse(
  buf: Buffer,
  start: number,
  end: number,
  touched: boolean,
  detectors: readonly DetectorName[],
): Buffer | undefined {
  const fields: [number, string][] = [];
  let pos = start + 5;
  let changed = false;
  while (pos < end && buf[pos] !== 0) {
    const type = buf[pos] as number;
    const nul = buf.indexOf(0, pos + 1);
    if (nul < 0 || nul >= end) return undefined;
    const value = buf.toString('utf8', pos + 1, nul);
    const masked = TEXT_FIELDS.has(String.fromCharCode(type))
      ? maskErrorText(value, touched, detectors)
      : value;
    if (masked !== value) changed = true;
    fields.push([type, masked]);
    pos = nul + 1;
  }
  if (!changed) return undefined;
  const w = new MessageWriter(buf[start] as number, end - start + 64);
  for (const [type, value] of fields) w.byte(type).cstring(value);
  return w.byte(0).finish();
}

export function maskErrorText(text: string, touched: boolean, detectors: readonly DetectorName[]): string {
  let out = text;
  if (touched) {
    out = out
      .replace(KEY_VALUES, `$1${PLACEHOLDER}$3`)
      .replace(FAILING_ROW, `$1${PLACEHOLDER}$3`)
      .replace(QUOTED, `"${PLACEHOLDER}"`);
  }
  return maskDetectedText(out, detectors);
}
