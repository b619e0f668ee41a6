import { describe, expect, it } from 'vitest';
import {
  binaryText,
  cellRanges,
  changedCells,
  dataRowCells,
  decodeBind,
  MAX_VALUE_CHARS,
} from '../../src/record/wire-text.js';
import { MessageReader } from '../../src/wire/reader.js';
import { msg } from '../integration/helpers.js';

const int16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
};

/** numeric's binary form from its fields. */
function numeric(weight: number, sign: number, dscale: number, digits: number[]): Buffer {
  const signField = Buffer.alloc(2);
  signField.writeUInt16BE(sign);
  return Buffer.concat([int16(digits.length), int16(weight), signField, int16(dscale), ...digits.map(int16)]);
}

function dataRow(cells: (Buffer | null)[]): Buffer {
  const body = Buffer.concat([
    int16(cells.length),
    ...cells.flatMap((c) => {
      const len = Buffer.alloc(4);
      len.writeInt32BE(c === null ? -1 : c.length);
      return c === null ? [len] : [len, c];
    }),
  ]);
  const head = Buffer.alloc(5);
  head[0] = 0x44;
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

describe('binary values as text', () => {
  it.each([
    ['int2', 21, int16(-3), '-3'],
    ['int4', 23, Buffer.from([0, 0, 1, 0]), '256'],
    ['int8', 20, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]), '-2'],
    ['bool', 16, Buffer.from([1]), 't'],
    ['float8', 701, Buffer.from([0x3f, 0xf8, 0, 0, 0, 0, 0, 0]), '1.5'],
    ['text', 25, Buffer.from('héllo'), 'héllo'],
    ['jsonb', 3802, Buffer.concat([Buffer.from([1]), Buffer.from('{"a": 1}')]), '{"a": 1}'],
    ['bytea', 17, Buffer.from([0xde, 0xad]), '\\xdead'],
    [
      'uuid',
      2950,
      Buffer.from('00112233445566778899aabbccddeeff', 'hex'),
      '00112233-4455-6677-8899-aabbccddeeff',
    ],
    ['date', 1082, Buffer.from([0, 0, 0, 2]), '2000-01-03'],
    ['timestamptz', 1184, Buffer.from([0, 0, 0, 0, 0, 0x0f, 0x42, 0x40]), '2000-01-01 00:00:01+00'],
    [
      'timestamp',
      1114,
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      '1999-12-31 23:59:59.999999',
    ],
    ['numeric 12.50', 1700, numeric(0, 0, 2, [12, 5000]), '12.50'],
    ['numeric -0.0012', 1700, numeric(-1, 0x4000, 4, [12]), '-0.0012'],
    ['numeric 10000', 1700, numeric(1, 0, 0, [1]), '10000'],
    ['numeric 0', 1700, numeric(0, 0, 0, []), '0'],
    ['numeric NaN', 1700, numeric(0, 0xc000, 0, []), 'NaN'],
    ['an unknown type, marked', 600, Buffer.from([1, 2]), '(binary) \\x0102'],
    ['an int4 of the wrong length, marked', 23, Buffer.from([1, 2]), '(binary) \\x0102'],
  ])('%s', (_what, oid, bytes, text) => {
    expect(binaryText(oid, bytes)).toBe(text);
  });

  it('cuts a long value and says how long it was', () => {
    const long = binaryText(25, Buffer.alloc(MAX_VALUE_CHARS + 10, 0x61));
    expect(long.endsWith(`… [cut by pgwarden, ${MAX_VALUE_CHARS + 10} bytes]`)).toBe(true);
    expect(long.length).toBeLessThan(MAX_VALUE_CHARS + 50);
  });
});

describe('Bind parameters', () => {
  it('reads text, binary (typed by the Parse) and NULL parameters, and the result formats', () => {
    const bind = msg.bind(
      'p1',
      's1',
      [Buffer.from('7'), Buffer.from([0, 0, 0, 42]), null, Buffer.from([9])],
      [0, 1, 0, 1],
      [1],
    );
    expect(decodeBind(new MessageReader(), bind, 0, bind.length, [0, 23, 0, 0])).toEqual({
      portal: 'p1',
      statement: 's1',
      parameters: ['7', '42', null, '(binary) \\x09'],
      resultFormats: [1],
    });
  });

  it('applies a single format code to every parameter', () => {
    const bind = msg.bind('', '', [Buffer.from([0, 1]), Buffer.from([0, 2])], [1]);
    expect(decodeBind(new MessageReader(), bind, 0, bind.length, [21, 21]).parameters).toEqual(['1', '2']);
  });
});

describe('DataRow cells', () => {
  it('renders each cell by its column format and finds the cells masking changed', () => {
    const sent = dataRow([Buffer.from('123-45-6789'), Buffer.from([0, 0, 0, 5]), null]);
    const got = dataRow([Buffer.from('[redacted]'), Buffer.from([0, 0, 0, 5]), null]);
    const columns = [
      { name: 'ssn', typeOid: 25, format: 0 },
      { name: 'n', typeOid: 23, format: 1 },
      { name: 'x', typeOid: 25, format: 0 },
    ];
    const gotRanges = cellRanges(got, 0, got.length);
    expect(dataRowCells(got, gotRanges, columns)).toEqual(['[redacted]', '5', null]);
    expect(changedCells(sent, cellRanges(sent, 0, sent.length), got, gotRanges)).toEqual([0]);
  });
});
