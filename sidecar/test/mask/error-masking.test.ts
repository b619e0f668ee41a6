import type { DetectorName } from '@pgwarden/crds';
import { describe, expect, it } from 'vitest';
import { maskErrorResponse, maskErrorText } from '../../src/mask/error-masking.js';
import { BackendCode } from '../../src/wire/codes.js';
import { errorFields, errorResponse } from './messages.js';

const ALL: readonly DetectorName[] = ['ssn', 'credit-card', 'email', 'phone', 'iban', 'secret'];
const NONE: readonly DetectorName[] = [];

function masked(
  fields: [string, string][],
  touched: boolean,
  detectors = ALL,
): [string, string][] | undefined {
  const buf = errorResponse(fields);
  const out = maskErrorResponse(buf, 0, buf.length, touched, detectors);
  return out === undefined ? undefined : errorFields(out);
}

const UNIQUE: [string, string][] = [
  ['S', 'ERROR'],
  ['V', 'ERROR'],
  ['C', '23505'],
  ['M', 'duplicate key value violates unique constraint "customers_ssn_key"'],
  ['D', 'Key (ssn)=(123456789) already exists.'],
  ['s', 'public'],
  ['t', 'customers'],
  ['n', 'customers_ssn_key'],
  ['F', 'nbtinsert.c'],
  ['L', '666'],
  ['R', '_bt_check_unique'],
];

describe('maskErrorResponse', () => {
  it('a unique violation after a touching statement: the key value and quoted names redacted, field order kept', () => {
    expect(masked(UNIQUE, true, NONE)).toEqual([
      ['S', 'ERROR'],
      ['V', 'ERROR'],
      ['C', '23505'],
      ['M', 'duplicate key value violates unique constraint "[redacted]"'],
      ['D', 'Key (ssn)=([redacted]) already exists.'],
      ['s', 'public'],
      ['t', 'customers'],
      ['n', 'customers_ssn_key'],
      ['F', 'nbtinsert.c'],
      ['L', '666'],
      ['R', '_bt_check_unique'],
    ]);
  });

  it('untouched, without detectors: nothing changes (undefined)', () => {
    expect(masked(UNIQUE, false, NONE)).toBeUndefined();
  });

  it('untouched: the detectors still run on the text fields', () => {
    const out = masked(UNIQUE, false, ALL);
    expect(out?.find(([t]) => t === 'D')?.[1]).toBe('Key (ssn)=([redacted]) already exists.');
    expect(out?.find(([t]) => t === 'M')?.[1]).toBe(UNIQUE[3]?.[1]);
  });

  it('"Failing row contains (…)" loses the whole row when touched', () => {
    const out = masked(
      [
        ['S', 'ERROR'],
        ['C', '23514'],
        ['M', 'new row for relation violates check constraint'],
        ['D', 'Failing row contains (7, Ada, 123-45-6789, ada@example.com).'],
      ],
      true,
      NONE,
    );
    expect(out?.[3]).toEqual(['D', 'Failing row contains ([redacted]).']);
  });

  it('a composite key: every value redacted', () => {
    expect(maskErrorText('Key (a, ssn)=(1, 123-45-6789) already exists.', true, NONE)).toBe(
      'Key (a, ssn)=([redacted]) already exists.',
    );
  });

  it('a cast error quotes the value in M: redacted when touched, left to the detectors otherwise', () => {
    const m = 'invalid input syntax for type integer: "123-45-6789"';
    expect(maskErrorText(m, true, NONE)).toBe('invalid input syntax for type integer: "[redacted]"');
    expect(maskErrorText(m, false, NONE)).toBe(m);
    expect(maskErrorText(m, false, ALL)).toBe('invalid input syntax for type integer: "[redacted]"');
  });

  it('a quoted value with doubled quotes is redacted whole', () => {
    expect(maskErrorText('value "a""b 123-45-6789" bad', true, NONE)).toBe('value "[redacted]" bad');
  });

  it('hint, context, where and internal query fields are text fields too', () => {
    const out = masked(
      [
        ['S', 'ERROR'],
        ['H', 'mail alice@example.com'],
        ['W', 'SQL statement "SELECT 1"'],
        ['q', "SELECT '4111 1111 1111 1111'"],
      ],
      false,
    );
    expect(out).toEqual([
      ['S', 'ERROR'],
      ['H', 'mail [redacted]'],
      ['W', 'SQL statement "SELECT 1"'],
      ['q', "SELECT '[redacted]'"],
    ]);
  });

  it('a NoticeResponse keeps its message code', () => {
    const buf = errorResponse(
      [
        ['S', 'NOTICE'],
        ['M', 'ssn 123-45-6789'],
      ],
      BackendCode.NoticeResponse,
    );
    const out = maskErrorResponse(buf, 0, buf.length, false, ALL) as Buffer;
    expect(out[0]).toBe(BackendCode.NoticeResponse);
    expect(errorFields(out)).toEqual([
      ['S', 'NOTICE'],
      ['M', 'ssn [redacted]'],
    ]);
  });

  it('a message inside a larger buffer is read from its offsets', () => {
    const msg = errorResponse([
      ['S', 'ERROR'],
      ['D', 'Key (ssn)=(123-45-6789) already exists.'],
    ]);
    const buf = Buffer.concat([Buffer.from('xx'), msg, Buffer.from('yy')]);
    const out = maskErrorResponse(buf, 2, 2 + msg.length, true, NONE) as Buffer;
    expect(errorFields(out)[1]).toEqual(['D', 'Key (ssn)=([redacted]) already exists.']);
  });
});
