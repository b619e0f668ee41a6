import type { DetectorName } from '@pgwarden/crds';
import { describe, expect, it } from 'vitest';
import { hashKey } from '../../src/mask/hash.js';
import { NO_MASKS, type StatementMasks } from '../../src/mask/resolve.js';
import { maskDataRow, planResult, type ResultPlan } from '../../src/mask/row-masking.js';
import { SensitiveCatalog } from '../../src/mask/sensitive-catalog.js';
import { type MaskStrategy, maskValue } from '../../src/mask/strategies.js';
import { TypeOid } from '../../src/mask/type-families.js';
import { dataRow, type FieldSpec, rowDescription, rowTexts, rowValues } from './messages.js';
import { maskedRelation } from './support.js';

const KEY = hashKey(Buffer.alloc(32, 3));
const HASH: MaskStrategy = { strategy: 'hash', key: KEY };
const PARTIAL: MaskStrategy = { strategy: 'partial', keepFirst: 0, keepLast: 4 };
const ALL: readonly DetectorName[] = ['ssn', 'credit-card', 'email', 'phone', 'iban', 'secret'];
const NONE: readonly DetectorName[] = [];

const CUSTOMERS = 100;
const catalog = new SensitiveCatalog();
catalog.add(
  maskedRelation(
    CUSTOMERS,
    'public.customers',
    ['id', 'name', 'ssn', 'email', 'account', 'token', 'profile'],
    {
      ssn: PARTIAL,
      email: { strategy: 'redact' },
      account: HASH,
      token: HASH,
      profile: { strategy: 'redact' },
    },
  ),
);
const col = (name: string, attnum: number, typeOid: number, format: 0 | 1 = 0): FieldSpec => ({
  name,
  tableOid: CUSTOMERS,
  attnum,
  typeOid,
  format,
});

function plan(
  fields: readonly FieldSpec[],
  masks: StatementMasks = NO_MASKS,
  detectors = NONE,
): ResultPlan | null {
  const buf = rowDescription(fields);
  return planResult(buf, 0, buf.length, masks, catalog, detectors);
}

function mask(
  p: ResultPlan,
  values: readonly (Buffer | string | null)[],
  detectors = NONE,
): Buffer | undefined {
  const row = dataRow(values);
  return maskDataRow(p, row, 0, row.length, detectors);
}

function int4(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

describe('planResult', () => {
  it('nothing to rewrite: no masked column, no detectors → null', () => {
    expect(plan([col('id', 1, TypeOid.int4), col('name', 2, TypeOid.text)])).toBeNull();
    expect(plan([{ typeOid: TypeOid.text }])).toBeNull();
  });

  it('a column is found by table OID and attnum, whatever it is called in the result', () => {
    const p = plan([col('id', 1, TypeOid.int4), col('x', 3, TypeOid.text), col('name', 2, TypeOid.text)]);
    expect(p?.columns.map((c) => c.strategy)).toEqual([null, PARTIAL, null]);
  });

  it('an attnum outside the relation or another table OID is not masked', () => {
    expect(
      plan([col('ssn', 99, TypeOid.text), { tableOid: 555, attnum: 3, typeOid: TypeOid.text }]),
    ).toBeNull();
  });

  it('computed columns (table OID 0) take the statement masks by position: column strategy or redact', () => {
    const masks: StatementMasks = {
      outputs: [
        null,
        { kind: 'column', column: { name: 'public.customers.ssn', strategy: PARTIAL } },
        { kind: 'derived', source: 'public.customers.ssn' },
      ],
      conservative: false,
      touched: true,
      filtersOn: null,
      copy: null,
    };
    const p = plan([{ typeOid: TypeOid.text }, { typeOid: TypeOid.text }, { typeOid: TypeOid.text }], masks);
    expect(p?.columns.map((c) => c.strategy?.strategy ?? null)).toEqual([null, 'partial', 'redact']);
  });

  it('conservative: computed columns are redacted, table columns are left to the catalog', () => {
    const masks: StatementMasks = {
      outputs: null,
      conservative: true,
      touched: true,
      filtersOn: null,
      copy: null,
    };
    const p = plan(
      [{ typeOid: TypeOid.text }, col('name', 2, TypeOid.text), col('ssn', 3, TypeOid.text)],
      masks,
    );
    expect(p?.columns.map((c) => c.strategy?.strategy ?? null)).toEqual(['redact', null, 'partial']);
  });

  it('detectors run on unmasked text values only: not on masked columns, not on binary numbers', () => {
    const p = plan(
      [
        col('name', 2, TypeOid.text),
        col('ssn', 3, TypeOid.text),
        col('id', 1, TypeOid.int8, 1),
        col('name', 2, TypeOid.varchar, 1),
        { typeOid: TypeOid.jsonb, format: 1 },
        { typeOid: 1700 },
      ],
      NO_MASKS,
      ALL,
    );
    expect(p?.columns.map((c) => c.detect)).toEqual([true, false, false, true, true, true]);
  });

  it('a RowDescription cut short is refused', () => {
    const buf = rowDescription([col('ssn', 3, TypeOid.text)]);
    expect(() => planResult(buf, 0, buf.length - 4, NO_MASKS, catalog, NONE)).toThrow(/shorter/);
  });
});

describe('maskDataRow', () => {
  it('text: masked columns rewritten, the others byte for byte, NULL stays NULL', () => {
    const p = plan([
      col('id', 1, TypeOid.int4),
      col('ssn', 3, TypeOid.text),
      col('name', 2, TypeOid.text),
      col('email', 4, TypeOid.varchar),
    ]) as ResultPlan;
    const out = mask(p, ['42', '123-45-6789', 'Ada', null]) as Buffer;
    expect(rowTexts(out)).toEqual(['42', '***-**-6789', 'Ada', null]);
    const again = mask(p, [null, null, 'Ada', 'ada@example.com']) as Buffer;
    expect(rowTexts(again)).toEqual([null, null, 'Ada', '[redacted]']);
  });

  it('a row with nothing to change returns undefined, so the original bytes go out', () => {
    const p = plan([col('name', 2, TypeOid.text), col('ssn', 3, TypeOid.text)], NO_MASKS, ALL) as ResultPlan;
    expect(mask(p, ['Ada', null], ALL)).toBeUndefined();
    expect(mask(p, ['nothing to see here', null], ALL)).toBeUndefined();
  });

  it('a masked value that becomes NULL is written as NULL', () => {
    const p = plan([{ typeOid: TypeOid.int4, format: 1 }], {
      ...NO_MASKS,
      outputs: [{ kind: 'derived', source: 'public.customers.ssn' }],
    }) as ResultPlan;
    expect(rowValues(mask(p, [int4(123456789)]) as Buffer)).toEqual([null]);
  });

  it('binary int4 / int8 / uuid under hash keep their encoding', () => {
    const p = plan([
      col('account', 5, TypeOid.int4, 1),
      col('account', 5, TypeOid.int8, 1),
      col('token', 6, TypeOid.uuid, 1),
    ]) as ResultPlan;
    const int8 = Buffer.alloc(8);
    int8.writeBigInt64BE(1234567890123n);
    const uuid = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
    const [a, b, c] = rowValues(mask(p, [int4(77), int8, uuid]) as Buffer);
    expect(a).toEqual(maskValue(HASH, int4(77), 'binary', TypeOid.int4));
    expect(a).toHaveLength(4);
    expect(b).toEqual(maskValue(HASH, int8, 'binary', TypeOid.int8));
    expect(b).toHaveLength(8);
    expect(c).toHaveLength(16);
    expect(c).not.toEqual(uuid);
    expect(((c as Buffer)[6] as number) >> 4).toBe(8);
  });

  it('text uuid under hash stays a uuid; the same value in binary hashes alike', () => {
    const p = plan([col('token', 6, TypeOid.uuid), col('token', 6, TypeOid.uuid, 1)]) as ResultPlan;
    const text = '01234567-89ab-cdef-0123-456789abcdef';
    const [t, b] = rowValues(
      mask(p, [text, Buffer.from('0123456789abcdef0123456789abcdef', 'hex')]) as Buffer,
    ) as Buffer[];
    expect(t?.toString()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(t?.toString().replaceAll('-', '')).toBe(b?.toString('hex'));
  });

  it('json and jsonb (text and binary) masked columns stay valid documents', () => {
    const p = plan([col('profile', 7, TypeOid.json), col('profile', 7, TypeOid.jsonb, 1)]) as ResultPlan;
    const doc = '{"ssn": "123-45-6789"}';
    const [j, jb] = rowValues(
      mask(p, [doc, Buffer.concat([Buffer.from([1]), Buffer.from(doc)])]) as Buffer,
    ) as Buffer[];
    expect(JSON.parse(j?.toString() ?? '')).toBe('[redacted]');
    expect(jb?.[0]).toBe(1);
    expect(JSON.parse(jb?.subarray(1).toString() ?? '')).toBe('[redacted]');
  });

  it('detectors mask the matching substring of unmasked text, and keep JSON valid', () => {
    const p = plan(
      [
        { typeOid: TypeOid.text },
        { typeOid: TypeOid.json },
        { typeOid: TypeOid.jsonb, format: 1 },
        { typeOid: TypeOid.int4 },
      ],
      NO_MASKS,
      ALL,
    ) as ResultPlan;
    const doc = '{"note": "call 415-555-2671", "n": 1}';
    const out = mask(
      p,
      ['ssn 123-45-6789 on file', doc, Buffer.concat([Buffer.from([1]), Buffer.from(doc)]), '7'],
      ALL,
    ) as Buffer;
    const [t, j, jb, n] = rowValues(out) as Buffer[];
    expect(t?.toString()).toBe('ssn [redacted] on file');
    expect(JSON.parse(j?.toString() ?? '')).toEqual({ note: 'call [redacted]', n: 1 });
    expect(jb?.[0]).toBe(1);
    expect(JSON.parse(jb?.subarray(1).toString() ?? '')).toEqual({ note: 'call [redacted]', n: 1 });
    expect(n?.toString()).toBe('7');
  });

  it('a number in text format that a detector matches becomes NULL (no masked form of its type)', () => {
    const p = plan([{ typeOid: 1700 }], NO_MASKS, ALL) as ResultPlan;
    expect(rowValues(mask(p, ['4111111111111111'], ALL) as Buffer)).toEqual([null]);
  });

  it('values before the first changed one are copied, with NULLs and empty strings', () => {
    const p = plan([
      col('name', 2, TypeOid.text),
      col('name', 2, TypeOid.text),
      col('name', 2, TypeOid.text),
      col('ssn', 3, TypeOid.text),
    ]) as ResultPlan;
    expect(rowTexts(mask(p, [null, '', 'x', '123-45-6789']) as Buffer)).toEqual([
      null,
      '',
      'x',
      '***-**-6789',
    ]);
  });

  it('a DataRow that claims more bytes than it has is refused', () => {
    const p = plan([col('ssn', 3, TypeOid.text)]) as ResultPlan;
    const row = dataRow(['123-45-6789']);
    expect(() => maskDataRow(p, row, 0, row.length - 3, NONE)).toThrow(/shorter/);
  });

  it('a message in the middle of a larger buffer is read from its offsets', () => {
    const p = plan([col('ssn', 3, TypeOid.text)]) as ResultPlan;
    const row = dataRow(['123-45-6789']);
    const buf = Buffer.concat([Buffer.from('junk'), row, Buffer.from('more')]);
    expect(rowTexts(maskDataRow(p, buf, 4, 4 + row.length, NONE) as Buffer)).toEqual(['***-**-6789']);
  });
});
