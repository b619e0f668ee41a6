import { describe, expect, it } from 'vitest';
import { RowLimit } from '../../src/enforce/row-limit.js';
import { BackendCode } from '../../src/wire/codes.js';
import { decodeErrorFields } from '../../src/wire/error-response.js';
import { DROP } from '../../src/wire/framer.js';
import { MessageWriter } from '../../src/wire/writer.js';

const dataRow = new MessageWriter(BackendCode.DataRow).int16(1).int32(1).byte(0x31).finish();
const tag = (t: string) => new MessageWriter(BackendCode.CommandComplete).cstring(t).finish();

/** Runs one message through the limit the way the relay does; returns what is sent in its place. */
function pass(limit: RowLimit, message: Buffer): Buffer {
  const code = message[0] as number;
  if (!limit.wantsWhole(code)) return message;
  return limit.replace(code, message, 0, message.length) ?? message;
}

describe('RowLimit', () => {
  it('delivers maxRows rows, one notice, then rewrites the tag to the delivered count', () => {
    const limit = new RowLimit(2);
    const out = [1, 2, 3, 4].map(() => pass(limit, dataRow));
    expect(out.slice(0, 2)).toEqual([dataRow, dataRow]);
    expect(out[2]?.[0]).toBe(BackendCode.NoticeResponse);
    expect(decodeErrorFields(out[2] as Buffer, 0, (out[2] as Buffer).length).get('M')).toMatch(
      /truncated to 2 rows/,
    );
    expect(out[3]).toBe(DROP);
    const complete = pass(limit, tag('SELECT 4'));
    expect(complete.toString('utf8', 5, complete.length - 1)).toBe('SELECT 2');
  });

  it('counts each result on its own', () => {
    const limit = new RowLimit(2);
    pass(limit, dataRow);
    pass(limit, dataRow);
    expect(pass(limit, tag('SELECT 2'))).toEqual(tag('SELECT 2'));
    expect(pass(limit, dataRow)).toBe(dataRow);
    expect(pass(limit, dataRow)).toBe(dataRow);
  });
});
