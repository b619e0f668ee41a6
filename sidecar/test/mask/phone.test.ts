import { describe, expect, it } from 'vitest';
import { find } from '../../src/mask/detectors/phone.js';
import { mergeSpans } from '../../src/mask/spans.js';
import { matched } from './support.js';

describe('phone detector', () => {
  // Merged: the international and NANP forms can both find "+1 (415) 555-2671".
  const found = (text: string) => matched(text, mergeSpans(find(text)));

  const positives: [text: string, found: string[]][] = [
    ['+14155552671', ['+14155552671']],
    ['+1 415 555 2671', ['+1 415 555 2671']],
    ['+1 (415) 555-2671', ['+1 (415) 555-2671']],
    ['+44 20 7946 0958', ['+44 20 7946 0958']],
    ['+49-30-1234567', ['+49-30-1234567']],
    ['+33 1 23 45 67 89', ['+33 1 23 45 67 89']],
    ['+81.3.1234.5678', ['+81.3.1234.5678']],
    ['tel:+886223456789', ['+886223456789']],
    ['(415) 555-2671', ['(415) 555-2671']],
    ['415-555-2671', ['415-555-2671']],
    ['415.555.2671', ['415.555.2671']],
    ['415 555 2671', ['415 555 2671']],
    ['1-415-555-2671', ['1-415-555-2671']],
    ['1 (415) 555-2671', ['1 (415) 555-2671']],
    ['call me at 415-555-2671.', ['415-555-2671']],
    ['(415) 555-2671 ext 12', ['(415) 555-2671']],
    // Groups past the 15th digit are the next number; up to it, they are taken.
    ['+1 415 555 2671 3172 99', ['+1 415 555 2671 3172']],
  ];
  it.each(positives)('finds %j', (text, expected) => {
    expect(found(text)).toEqual(expected);
  });

  const negatives: [text: string, why: string][] = [
    ['4155552671', 'bare digits: ids and amounts look the same'],
    ['555-2671', 'a 7-digit local number'],
    ['on 2024-01-15', 'a date'],
    ['at 12:30:45', 'a time'],
    ['+1234567', 'seven digits'],
    ['+4930123456789012', 'sixteen contiguous digits'],
    ['115-555-2671', 'an area code starting with 1'],
    ['415-155-2671', 'an exchange starting with 1'],
    ['1415-555-2671', 'a longer number'],
    ['415-555-26710', 'a longer number'],
    ['415-555-2671-99', 'continued with its own separator'],
    ['192.168.100.200', 'an IPv4 address'],
    ['x+14155552671', 'glued to a word'],
    ['+1 800 FLOWERS', 'letters'],
    ['2+2=4, year 2024', 'arithmetic'],
    ['order 12345 total 678', 'short numbers'],
  ];
  it.each(negatives)('ignores %j (%s)', (text) => {
    expect(find(text)).toEqual([]);
  });
});
