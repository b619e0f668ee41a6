import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { partialMask, partialMaskBytes } from '../../src/mask/partial.js';

describe('partial masking', () => {
  const cases: [text: string, keepFirst: number, keepLast: number, masked: string][] = [
    // Separators keep the shape and do not count toward keepFirst/keepLast.
    ['123-45-6789', 0, 4, '***-**-6789'],
    ['123 45 6789', 0, 4, '*** ** 6789'],
    ['+1 (415) 555-2671', 0, 4, '+* (***) ***-2671'],
    ['4111 1111 1111 1111', 0, 4, '**** **** **** 1111'],
    ['1990-01-31', 0, 0, '****-**-**'],
    ['alice@example.com', 1, 0, 'a****@*******.***'],
    ['abcdefgh', 2, 2, 'ab****gh'],
    ['DE89 3704 0044 0532 0130 00', 2, 2, 'DE** **** **** **** **** 00'],
    // Other punctuation is masked like any character.
    ['a_b,c;d', 0, 0, '*******'],
    // A value no longer than keepFirst + keepLast is masked whole.
    ['1234', 0, 4, '****'],
    ['12-34', 2, 2, '**-**'],
    ['12345', 0, 4, '*2345'],
    ['', 0, 4, ''],
    ['---', 0, 0, '---'],
    // Characters are grapheme clusters: accents, surrogate pairs and emoji stay whole.
    ['José Álvarez', 1, 0, 'J*** *******'],
    ['José Álvarez', 0, 3, '**** ****rez'],
    ['e\u0301te\u0301', 0, 1, '**e\u0301'],
    ['山田-太郎', 0, 2, '**-太郎'],
    ['𝒜𝒝𝒞', 1, 0, '𝒜**'],
    ['👨‍👩‍👧‍👦 family', 0, 2, '* ****ly'],
    ['🇺🇸 +1 415', 0, 3, '* +* 415'],
    // CR LF is one character, in ASCII text and in text that takes the segmenter.
    ['ab\r\ncd', 0, 0, '*****'],
    ['ab\r\ncé', 0, 0, '*****'],
  ];
  it.each(cases)('%j keepFirst %i keepLast %i → %j', (text, keepFirst, keepLast, masked) => {
    expect(partialMask(text, keepFirst, keepLast)).toBe(masked);
  });

  it('is idempotent: masking a masked value changes nothing', () => {
    const once = partialMask('+1 (415) 555-2671', 0, 4);
    expect(partialMask(once, 0, 4)).toBe(once);
  });
});

describe('partial masking, property', () => {
  // The rule stated directly over Intl.Segmenter's clusters, as an oracle for the
  // byte path (ASCII) and the code-point path (text with no cluster extenders).
  const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  function oracle(text: string, keepFirst: number, keepLast: number): string {
    const clusters = Array.from(segmenter.segment(text), (s) => s.segment);
    const isSeparator = (c: string) => c.length === 1 && ' -./()+@'.includes(c);
    const count = clusters.filter((c) => !isSeparator(c)).length;
    let index = 0;
    return clusters
      .map((c) => {
        if (isSeparator(c)) return c;
        const shown = count > keepFirst + keepLast && (index < keepFirst || index >= count - keepLast);
        index++;
        return shown ? c : '*';
      })
      .join('');
  }

  const pieces = fc.oneof(
    fc.constantFrom(
      ' ',
      '-',
      '.',
      '/',
      '(',
      ')',
      '+',
      '@',
      '\r\n',
      '\r',
      '\n',
      'e\u0301',
      '👨‍👩‍👧',
      '🇺🇸',
      'ทำ',
      '한',
    ),
    fc.string({ unit: 'binary-ascii', maxLength: 6 }),
    fc.string({ unit: 'grapheme', maxLength: 4 }),
  );

  it('masks exactly the clusters the rule says, whatever the text', () => {
    fc.assert(
      fc.property(
        fc.array(pieces, { maxLength: 10 }).map((p) => p.join('')),
        fc.nat(6),
        fc.nat(6),
        (text, keepFirst, keepLast) => {
          expect(partialMask(text, keepFirst, keepLast)).toBe(oracle(text, keepFirst, keepLast));
          expect(partialMaskBytes(Buffer.from(text), keepFirst, keepLast).toString()).toBe(
            oracle(Buffer.from(text).toString(), keepFirst, keepLast),
          );
        },
      ),
      { numRuns: 3000 },
    );
  });
});
