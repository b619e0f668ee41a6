import { BackendCode } from './codes.js';
import { MessageWriter } from './writer.js';

export type Severity = 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'INFO' | 'LOG';

export interface ErrorFields {
  severity: Severity;
  /** SQLSTATE, five characters. */
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

/**
 * An error pgwarden itself raises towards a client. It encodes as an
 * ErrorResponse with a real SQLSTATE so every driver surfaces it normally.
 */
export class PgError extends Error {
  override name = 'PgError';
  readonly severity: Severity;
  readonly code: string;
  readonly detail: string | undefined;
  readonly hint: string | undefined;

  constructor(fields: ErrorFields) {
    super(fields.message);
    this.severity = fields.severity;
    this.code = fields.code;
    this.detail = fields.detail;
    this.hint = fields.hint;
  }

  encode(): Buffer {
    return encodeErrorResponse(this);
  }
}

/** ErrorResponse ('E') or NoticeResponse ('N') with the fields PostgreSQL itself always sends. */
export function encodeErrorResponse(f: ErrorFields, code: number = BackendCode.ErrorResponse): Buffer {
  const w = new MessageWriter(code, 128);
  w.byte(0x53).cstring(f.severity); // S: localized severity
  w.byte(0x56).cstring(f.severity); // V: non-localized severity
  w.byte(0x43).cstring(f.code); // C: SQLSTATE
  w.byte(0x4d).cstring(f.message); // M
  if (f.detail) w.byte(0x44).cstring(f.detail); // D
  if (f.hint) w.byte(0x48).cstring(f.hint); // H
  w.byte(0x52).cstring('pgwarden'); // R: routine, so logs show the proxy raised it
  return w.byte(0).finish();
}

/** Decodes the fields of an ErrorResponse/NoticeResponse body into a code → value map. */
export function decodeErrorFields(buf: Buffer, start: number, end: number): Map<string, string> {
  const fields = new Map<string, string>();
  let pos = start + 5;
  while (pos < end && buf[pos] !== 0) {
    const type = String.fromCharCode(buf[pos] as number);
    const nul = buf.indexOf(0, pos + 1);
    if (nul < 0 || nul >= end) break;
    fields.set(type, buf.toString('utf8', pos + 1, nul));
    pos = nul + 1;
  }
  return fields;
}
