import { BackendCode, FrontendCode } from '../../src/wire/codes.js';
import { MessageWriter } from '../../src/wire/writer.js';

/** Protocol v3 messages built field by field, for the masking tests. */

export interface FieldSpec {
  name?: string;
  tableOid?: number;
  attnum?: number;
  typeOid: number;
  /** 0 text, 1 binary. */
  format?: 0 | 1;
}

export function rowDescription(fields: readonly FieldSpec[]): Buffer {
  const w = new MessageWriter(BackendCode.RowDescription).int16(fields.length);
  fields.forEach((f, i) => {
    w.cstring(f.name ?? `c${i + 1}`)
      .int32(f.tableOid ?? 0)
      .int16(f.attnum ?? 0)
      .int32(f.typeOid)
      .int16(-1)
      .int32(-1)
      .int16(f.format ?? 0);
  });
  return w.finish();
}

export function dataRow(values: readonly (Buffer | string | null)[]): Buffer {
  const w = new MessageWriter(BackendCode.DataRow).int16(values.length);
  for (const v of values) {
    if (v === null) w.int32(-1);
    else {
      const bytes = typeof v === 'string' ? Buffer.from(v) : v;
      w.int32(bytes.length).bytes(bytes);
    }
  }
  return w.finish();
}

/** A DataRow's values (null for SQL NULL). */
export function rowValues(message: Buffer): (Buffer | null)[] {
  const count = message.readInt16BE(5);
  expectLength(message);
  const out: (Buffer | null)[] = [];
  let pos = 7;
  for (let i = 0; i < count; i++) {
    const len = message.readInt32BE(pos);
    pos += 4;
    out.push(len < 0 ? null : message.subarray(pos, pos + len));
    if (len > 0) pos += len;
  }
  if (pos !== message.length) throw new Error('DataRow has bytes after its values');
  return out;
}

export function rowTexts(message: Buffer): (string | null)[] {
  return rowValues(message).map((v) => (v === null ? null : v.toString('utf8')));
}

/** An ErrorResponse ('E') or NoticeResponse ('N') from [field code, value] pairs. */
export function errorResponse(
  fields: readonly [string, string][],
  code: number = BackendCode.ErrorResponse,
): Buffer {
  const w = new MessageWriter(code);
  for (const [type, value] of fields) w.byte(type.charCodeAt(0)).cstring(value);
  return w.byte(0).finish();
}

export function errorFields(message: Buffer): [string, string][] {
  expectLength(message);
  const out: [string, string][] = [];
  let pos = 5;
  while (message[pos] !== 0) {
    const nul = message.indexOf(0, pos + 1);
    out.push([String.fromCharCode(message[pos] as number), message.toString('utf8', pos + 1, nul)]);
    pos = nul + 1;
  }
  return out;
}

function expectLength(message: Buffer): void {
  if (message.readInt32BE(1) !== message.length - 1)
    throw new Error('length field does not match the message');
}

export const backend = {
  parseComplete: () => new MessageWriter(BackendCode.ParseComplete).finish(),
  bindComplete: () => new MessageWriter(BackendCode.BindComplete).finish(),
  noData: () => new MessageWriter(BackendCode.NoData).finish(),
  portalSuspended: () => new MessageWriter(BackendCode.PortalSuspended).finish(),
  commandComplete: (tag: string) => new MessageWriter(BackendCode.CommandComplete).cstring(tag).finish(),
  readyForQuery: (status = 'I') =>
    new MessageWriter(BackendCode.ReadyForQuery).byte(status.charCodeAt(0)).finish(),
};

export const frontend = {
  query: (sql: string) => new MessageWriter(FrontendCode.Query).cstring(sql).finish(),
  parse: (name: string, sql: string) =>
    new MessageWriter(FrontendCode.Parse).cstring(name).cstring(sql).int16(0).finish(),
  bind: (portal: string, statement: string, resultFormat: 0 | 1 = 0) =>
    new MessageWriter(FrontendCode.Bind)
      .cstring(portal)
      .cstring(statement)
      .int16(0)
      .int16(0)
      .int16(1)
      .int16(resultFormat)
      .finish(),
  describePortal: (portal: string) =>
    new MessageWriter(FrontendCode.Describe).byte(0x50).cstring(portal).finish(),
  describeStatement: (name: string) =>
    new MessageWriter(FrontendCode.Describe).byte(0x53).cstring(name).finish(),
  execute: (portal: string, maxRows = 0) =>
    new MessageWriter(FrontendCode.Execute).cstring(portal).int32(maxRows).finish(),
  sync: () => new MessageWriter(FrontendCode.Sync).finish(),
};
