import { describe, expect, it } from 'vitest';
import { find } from '../../src/mask/detectors/ssn.js';
import { matched } from './support.js';

describe('ssn detector', () => {
  const positives: [text: string, found: string[]][] = [
    ['123-45-6789', ['123-45-6789']],
    ['SSN 078-05-1120 on file', ['078-05-1120']],
    ['lowest 001-01-0001', ['001-01-0001']],
    ['highest area 899-99-9999', ['899-99-9999']],
    ['next to 666: 665-12-3456 and 667-12-3456', ['665-12-3456', '667-12-3456']],
    ['spaced 123 45 6789', ['123 45 6789']],
    ['ssn: 123456789', ['123456789']],
    ['ERROR: duplicate key. Key (ssn)=(219099999) already exists.', ['219099999']],
    ['SSN#123456789', ['123456789']],
    ["where ssn = '123456789'", ['123456789']],
    ['(123-45-6789)', ['123-45-6789']],
    ['{"ssn":"123-45-6789"}', ['123-45-6789']],
    ['customer_ssn:123-45-6789,', ['123-45-6789']],
    ['room 12 123-45-6789', ['123-45-6789']],
    ['ends a sentence 123-45-6789.', ['123-45-6789']],
    ['two: 123-45-6789 and 234-56-7890', ['123-45-6789', '234-56-7890']],
  ];
  it.each(positives)('finds %j', (text, found) => {
    expect(matched(text, find(text))).toEqual(found);
  });

  const negatives: [text: string, why: string][] = [
    ['000-12-3456', 'area 000'],
    ['666-12-3456', 'area 666'],
    ['900-12-3456', 'area 9xx'],
    ['999-99-9999', 'area 9xx'],
    ['123-00-4567', 'group 00'],
    ['123-45-0000', 'serial 0000'],
    ['id 123456789', 'nine bare digits without a label'],
    ['123-45-67890', 'a longer number'],
    ['1123-45-6789', 'a longer number'],
    ['1-123-45-6789', 'a dash-joined longer number'],
    ['12 123 45 6789', 'a space-joined longer number'],
    ['123-45 6789', 'mixed separators'],
    ['123.45.6789', 'dots are not SSN separators'],
    ['ssn: 1234567890', 'ten digits after a label'],
    ['ssn: 000123456', 'invalid area after a label'],
    ['call 415-555-2671', 'a phone number'],
    ['on 2024-01-15', 'a date'],
    ['the ssn is unknown', 'a label without a number'],
  ];
  it.each(negatives)('ignores %j (%s)', (text) => {
    expect(find(text)).toEqual([]);
  });
});
