import { describe, expect, it } from 'vitest';
import { luhnValid, mod97Valid } from '../../src/mask/detectors/checksums.js';

describe('Luhn', () => {
  it.each([
    ['79927398713', true],
    ['79927398710', false],
    ['0', true],
    ['18', true], // 1 doubled is 2, + 8 = 10
    ['91', true], // 9 doubled is 18 → 9, + 1 = 10
    ['59', true],
    ['4111111111111111', true],
    ['4111111111111121', false], // a single changed digit is always caught
    ['4111111111111211', false],
    ['1411111111111111', false], // most adjacent transpositions are caught…
    ['09', false],
    ['90', false], // …but not 09 ↔ 90, Luhn's known blind spot: both are invalid here
    ['', false],
    ['4111-1111', false],
    ['abc', false],
  ])('%s → %s', (digits, valid) => {
    expect(luhnValid(digits)).toBe(valid);
  });
});

describe('mod-97', () => {
  it.each([
    ['GB82WEST12345698765432', true],
    ['GB82 WEST 1234 5698 7654 32', true],
    ['DE89370400440532013000', true],
    ['NO9386011117947', true],
    ['FR1420041010050500013M02606', true],
    ['GB83WEST12345698765432', false],
    ['GB82WEST12345698765433', false],
    ['gb82west12345698765432', false], // upper case only
    ['GB82WEST1234569876543#', false],
    ['GB82', false],
    ['', false],
  ])('%s → %s', (iban, valid) => {
    expect(mod97Valid(iban)).toBe(valid);
  });

  // Check digits are 98 - (n mod 97), so 02–98; 00, 01 and 99 leave the same remainder
  // as 97, 98 and 02 and would pass the bare remainder test.
  it.each([
    ['GB97WEST12345698000026', 'GB00WEST12345698000026'],
    ['GB98WEST12345698000008', 'GB01WEST12345698000008'],
    ['GB02WEST12345698000087', 'GB99WEST12345698000087'],
  ])('accepts %s but refuses its never-issued twin %s', (issued, twin) => {
    expect(mod97Valid(issued)).toBe(true);
    expect(mod97Valid(twin)).toBe(false);
  });
});
