import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashKey, MIN_HASH_KEY_BYTES } from '../../src/mask/hash.js';
import { type MaskStrategy, maskText, maskValue, type ValueFormat } from '../../src/mask/strategies.js';
import { TypeOid } from '../../src/mask/type-families.js';

const KEY = hashKey(Buffer.from(Array.from({ length: 32 }, (_, i) => i)));
const OTHER_KEY = hashKey(Buffer.alloc(32, 7));
const redact: MaskStrategy = { strategy: 'redact' };
const hash: MaskStrategy = { strategy: 'hash', key: KEY };
const keepLast4: MaskStrategy = { strategy: 'partial', keepFirst: 0, keepLast: 4 };
const sqlNull: MaskStrategy = { strategy: 'null' };

const CHARACTER_TYPES = [TypeOid.text, TypeOid.varchar, TypeOid.bpchar, TypeOid.name, TypeOid.unknown];
const FORMATS: ValueFormat[] = ['text', 'binary'];
// bool, bytea, numeric, float8, date, timestamptz, text[], and an OID no built-in type has.
const OTHER_TYPES = [16, 17, 1700, 701, 1082, 1184, 1009, 99999];

const text = (s: string) => Buffer.from(s);
const int4 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

describe('redact', () => {
  it.each(CHARACTER_TYPES.flatMap((oid) => FORMATS.map((format) => [oid, format] as const)))(
    'character type %i (%s) → "[redacted]"',
    (oid, format) => {
      expect(maskValue(redact, text('123-45-6789'), format, oid)?.toString()).toBe('[redacted]');
    },
  );

  it('json and jsonb → "[redacted]" as a JSON string; jsonb binary keeps its version byte', () => {
    const doc = text('{"ssn":"123-45-6789"}');
    expect(maskValue(redact, doc, 'text', TypeOid.json)?.toString()).toBe('"[redacted]"');
    expect(maskValue(redact, doc, 'binary', TypeOid.json)?.toString()).toBe('"[redacted]"');
    expect(maskValue(redact, doc, 'text', TypeOid.jsonb)?.toString()).toBe('"[redacted]"');
    const binary = maskValue(redact, Buffer.concat([Buffer.from([1]), doc]), 'binary', TypeOid.jsonb);
    expect(binary?.[0]).toBe(1);
    expect(binary?.subarray(1).toString()).toBe('"[redacted]"');
  });

  it.each([TypeOid.int2, TypeOid.int4, TypeOid.int8, TypeOid.uuid, ...OTHER_TYPES])(
    'type %i has no placeholder that cannot pass for data → NULL',
    (oid) => {
      expect(maskValue(redact, text('42'), 'text', oid)).toBeNull();
      expect(maskValue(redact, int4(42), 'binary', oid)).toBeNull();
    },
  );
});

describe('partial', () => {
  it('masks character types in either format alike', () => {
    for (const format of FORMATS) {
      expect(maskValue(keepLast4, text('123-45-6789'), format, TypeOid.varchar)?.toString()).toBe(
        '***-**-6789',
      );
    }
  });

  it('masks a JSON string scalar by its content and any other document whole', () => {
    expect(maskValue(keepLast4, text('"123-45-6789"'), 'text', TypeOid.json)?.toString()).toBe(
      '"***-**-6789"',
    );
    expect(maskValue(keepLast4, text('{"a":"123-45-6789"}'), 'text', TypeOid.json)?.toString()).toBe(
      '"[redacted]"',
    );
    const jsonb = maskValue(keepLast4, text('\u0001"123-45-6789"'), 'binary', TypeOid.jsonb);
    expect(jsonb?.toString()).toBe('\u0001"***-**-6789"');
  });

  it('redacts bytes that are not UTF-8: characters cannot be told apart', () => {
    expect(
      maskValue(keepLast4, Buffer.from([0xff, 0xfe, 0x31, 0x32]), 'text', TypeOid.text)?.toString(),
    ).toBe('[redacted]');
  });

  it.each([TypeOid.int4, TypeOid.uuid, ...OTHER_TYPES])('type %i → NULL', (oid) => {
    expect(maskValue(keepLast4, text('123456789'), 'text', oid)).toBeNull();
  });
});

describe('hash', () => {
  it('writes "h:" and 16 hex digits of HMAC-SHA-256 (vector computed with Python hmac)', () => {
    expect(maskText(hash, 'alice@example.com')).toBe('h:a59fc578d4cb46fa');
    expect(maskText(hash, '123-45-6789')).toBe('h:c36200a49b51d6ab');
  });

  it('is deterministic, and the same in both formats and in spans (joinable)', () => {
    const a = maskValue(hash, text('alice@example.com'), 'text', TypeOid.text)?.toString();
    expect(maskValue(hash, text('alice@example.com'), 'binary', TypeOid.varchar)?.toString()).toBe(a);
    expect(maskText(hash, 'alice@example.com')).toBe(a);
    // A JSON string scalar hashes like its content, written as a JSON string.
    expect(maskValue(hash, text('"alice@example.com"'), 'text', TypeOid.json)?.toString()).toBe(`"${a}"`);
  });

  it('depends on the key and the input', () => {
    const other: MaskStrategy = { strategy: 'hash', key: OTHER_KEY };
    expect(maskText(other, 'alice@example.com')).not.toBe(maskText(hash, 'alice@example.com'));
    expect(maskText(hash, 'alice@example.con')).not.toBe(maskText(hash, 'alice@example.com'));
  });

  it('refuses a key shorter than MIN_HASH_KEY_BYTES', () => {
    expect(() => hashKey(Buffer.alloc(MIN_HASH_KEY_BYTES - 1))).toThrow(RangeError);
    const shortest: MaskStrategy = { strategy: 'hash', key: hashKey(Buffer.alloc(MIN_HASH_KEY_BYTES)) };
    expect(maskText(shortest, 'x')).toMatch(/^h:[0-9a-f]{16}$/);
  });

  it.each([
    [TypeOid.int2, 2, 2 ** 15],
    [TypeOid.int4, 4, 2 ** 31],
    [TypeOid.int8, 8, 2 ** 63],
  ] as const)(
    'integer type %i → a non-negative integer of the type, the same in both formats',
    (oid, bytes, limit) => {
      for (const n of [0, 42, -42, 32767]) {
        const binaryIn = Buffer.alloc(bytes);
        if (bytes === 8) binaryIn.writeBigInt64BE(BigInt(n));
        else binaryIn.writeIntBE(n, 0, bytes);
        const asText = maskValue(hash, text(String(n)), 'text', oid)?.toString() ?? '';
        const asBinary = maskValue(hash, binaryIn, 'binary', oid);
        expect(asText).toMatch(/^\d+$/);
        expect(BigInt(asText) < BigInt(limit)).toBe(true);
        expect(asBinary?.length).toBe(bytes);
        const fromBinary = bytes === 8 ? asBinary?.readBigInt64BE(0) : asBinary?.readIntBE(0, bytes);
        expect(String(fromBinary)).toBe(asText);
      }
      expect(maskValue(hash, text('7'), 'text', oid)?.toString()).not.toBe(
        maskValue(hash, text('8'), 'text', oid)?.toString(),
      );
    },
  );

  it('uuid → a version 8 uuid, the same in both formats', () => {
    const uuid = '3f2504e0-4f89-11d3-9a0c-0305e82c3301';
    const asText = maskValue(hash, text(uuid), 'text', TypeOid.uuid)?.toString() ?? '';
    expect(asText).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const asBinary = maskValue(hash, Buffer.from(uuid.replaceAll('-', ''), 'hex'), 'binary', TypeOid.uuid);
    expect(asBinary?.toString('hex')).toBe(asText.replaceAll('-', ''));
  });

  it.each(OTHER_TYPES)('type %i → NULL', (oid) => {
    expect(maskValue(hash, text('1'), 'text', oid)).toBeNull();
  });

  it('turns malformed values into NULL rather than guessing', () => {
    expect(maskValue(hash, Buffer.alloc(3), 'binary', TypeOid.int4)).toBeNull();
    expect(maskValue(hash, text('4x'), 'text', TypeOid.int4)).toBeNull();
    expect(maskValue(hash, text('not-a-uuid'), 'text', TypeOid.uuid)).toBeNull();
    expect(maskValue(hash, Buffer.alloc(15), 'binary', TypeOid.uuid)).toBeNull();
    expect(maskValue(hash, text('\u0002"x"'), 'binary', TypeOid.jsonb)).toBeNull();
  });
});

describe('null', () => {
  it('yields SQL NULL for every type and format, and NULL stays NULL under every strategy', () => {
    for (const oid of [...CHARACTER_TYPES, TypeOid.json, TypeOid.int8, TypeOid.uuid, ...OTHER_TYPES]) {
      for (const format of FORMATS) {
        expect(maskValue(sqlNull, text('x'), format, oid)).toBeNull();
        for (const strategy of [redact, hash, keepLast4, sqlNull])
          expect(maskValue(strategy, null, format, oid)).toBeNull();
      }
    }
  });
});

describe('properties', () => {
  const oids = fc.constantFrom<number>(
    ...CHARACTER_TYPES,
    TypeOid.json,
    TypeOid.jsonb,
    TypeOid.int2,
    TypeOid.int4,
    TypeOid.int8,
    TypeOid.uuid,
    ...OTHER_TYPES,
  );
  const values = fc.option(
    fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
    { nil: null },
  );

  it('redact and null are idempotent on any value of any type', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(redact, sqlNull),
        values,
        fc.constantFrom(...FORMATS),
        oids,
        (s, v, format, oid) => {
          const once = maskValue(s, v, format, oid);
          expect(maskValue(s, once, format, oid)).toEqual(once);
        },
      ),
      { numRuns: 500 },
    );
  });
});
