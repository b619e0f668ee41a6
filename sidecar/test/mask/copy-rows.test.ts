import { describe, expect, it } from 'vitest';
import type { CopyFormat } from '../../src/analyze/columns.js';
import { type CopyColumnMask, maskCopyRow } from '../../src/mask/copy-rows.js';

const TEXT: CopyFormat = {
  kind: 'text',
  delimiter: '\t',
  nullString: '\\N',
  quote: '"',
  escape: '"',
  header: false,
};
const CSV: CopyFormat = {
  kind: 'csv',
  delimiter: ',',
  nullString: '',
  quote: '"',
  escape: '"',
  header: false,
};
const REDACT: CopyColumnMask = { strategy: { strategy: 'redact' }, typeOid: 25 };
const PARTIAL: CopyColumnMask = { strategy: { strategy: 'partial', keepFirst: 0, keepLast: 4 }, typeOid: 25 };
const NULLED: CopyColumnMask = { strategy: { strategy: 'null' }, typeOid: 25 };
const REDACT_INT: CopyColumnMask = { strategy: { strategy: 'redact' }, typeOid: 23 };

describe('maskCopyRow, text format', () => {
  it('replaces masked fields, keeps the others byte for byte', () => {
    expect(maskCopyRow('1\t123-45-6789\tSpringfield', TEXT, [null, PARTIAL, null], [])).toBe(
      '1\t***-**-6789\tSpringfield',
    );
  });

  it('reads escapes before masking and escapes what it writes', () => {
    // The value is x, tab, "ab", backslash, "cd" (escaped in the row); partial keeps its last 4 characters.
    expect(maskCopyRow('x\\tab\\\\cd\t2', TEXT, [PARTIAL, null], [])).toBe('***b\\\\cd\t2');
    expect(maskCopyRow('\\x41\\102C\t2', TEXT, [REDACT, null], [])).toBe('[redacted]\t2');
  });

  it('keeps NULL as the NULL string, and writes NULL for a type with no masked form', () => {
    expect(maskCopyRow('\\N\t5', TEXT, [REDACT, REDACT_INT], [])).toBe('\\N\t\\N');
    expect(maskCopyRow('a|b', { ...TEXT, delimiter: '|', nullString: 'NIL' }, [NULLED, null], [])).toBe(
      'NIL|b',
    );
  });

  it('returns undefined when nothing changed, and runs the detectors over the row', () => {
    expect(maskCopyRow('1\tSpringfield', TEXT, [null, null], ['email'])).toBeUndefined();
    expect(maskCopyRow('1\tmail bob@example.com', TEXT, [null, null], ['email'])).toBe('1\tmail [redacted]');
  });
});

describe('maskCopyRow, CSV', () => {
  it('parses quoted fields with delimiters, doubled quotes and newlines', () => {
    expect(maskCopyRow('1,"a, ""b""\nc",x', CSV, [null, REDACT, null], [])).toBe('1,[redacted],x');
    expect(maskCopyRow('"123-45-6789",2', CSV, [PARTIAL, null], [])).toBe('***-**-6789,2');
  });

  it('quotes a masked value that needs it, and tells an empty string from NULL', () => {
    // Partial keeps the space, which is the delimiter here: the masked value must be quoted.
    const spaced: CopyColumnMask = {
      strategy: { strategy: 'partial', keepFirst: 1, keepLast: 0 },
      typeOid: 25,
    };
    expect(maskCopyRow('"a b" 1', { ...CSV, delimiter: ' ' }, [spaced, null], [])).toBe('"a *" 1');
    expect(maskCopyRow(',1', CSV, [REDACT, null], [])).toBeUndefined();
    expect(maskCopyRow('"",1', CSV, [NULLED, null], [])).toBe(',1');
  });

  it('honours QUOTE and ESCAPE other than the defaults', () => {
    const format: CopyFormat = { ...CSV, quote: "'", escape: '\\' };
    expect(maskCopyRow("'it\\'s',1", format, [REDACT, null], [])).toBe('[redacted],1');
    expect(maskCopyRow("'it\\'s',1", format, [null, REDACT], [])).toBe("'it\\'s',[redacted]");
  });
});
