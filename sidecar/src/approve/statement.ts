import { createHash } from 'node:crypto';
import type { ApprovalStatement } from '@pgwarden/crds';
import { fingerprintSync } from 'libpg-query';
import { scrubCredentials } from '../record/scrub.js';
import { decodeBind } from '../record/wire-text.js';
import { MessageReader } from '../wire/reader.js';

/**
 * The identity of a held statement. The digest covers the exact bytes that
 * run (text, and for the extended protocol the Bind's parameter formats and
 * values), so a single-use approval runs nothing else; the fingerprint is
 * libpg_query's hash of the parse tree without its literals, the same for the
 * same statement with other values, which the broader scopes match.
 */
export function simpleStatement(sql: string): ApprovalStatement {
  return {
    protocol: 'simple',
    text: scrubCredentials(sql),
    parameters: [],
    digest: createHash('sha256').update('simple\0').update(sql).digest('hex'),
    fingerprint: fingerprintSync(sql),
  };
}

const reader = new MessageReader();

/** The statement a Bind message (buf[start, end)) binds to `sql`, whose Parse declared `parameterTypes`. */
export function boundStatement(
  sql: string,
  parameterTypes: readonly number[],
  buf: Buffer,
  start: number,
  end: number,
): ApprovalStatement {
  const bind = decodeBind(reader, buf, start, end, parameterTypes);
  const r = reader.reset(buf, start + 5, end);
  r.cstring();
  r.cstring();
  // Formats, values and result formats, byte for byte.
  const values = r.rest();
  return {
    protocol: 'extended',
    text: scrubCredentials(sql),
    parameters: bind.parameters.map((p) => (p === null ? null : scrubCredentials(p))),
    digest: createHash('sha256').update('extended\0').update(sql).update('\0').update(values).digest('hex'),
    fingerprint: fingerprintSync(sql),
  };
}
