/**
 * The check-digit schemes that keep the card and IBAN detectors from flagging
 * every long number: a random digit string passes Luhn 1 time in 10 and mod-97
 * 1 time in 97.
 */

/** Luhn (ISO/IEC 7812-1) over a string of ASCII digits; false for anything else or an empty string. */
export function luhnValid(digits: string): boolean {
  if (digits.length === 0) return false;
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * ISO 13616 IBAN check: the first four characters moved to the end, letters read
 * as 10–35, the resulting number mod 97 must be 1. Takes the electronic form or the
 * printed one (spaces are skipped; the first four characters must be unspaced), in
 * upper case. Check digits 00, 01 and 99 are never issued but would pass the
 * remainder test (they equal 97, 98 and 02 mod 97), so they are refused.
 */
export function mod97Valid(iban: string): boolean {
  if (iban.length < 5) return false;
  const check = iban.slice(2, 4);
  if (check === '00' || check === '01' || check === '99') return false;
  let remainder = 0;
  for (let k = 0; k < iban.length; k++) {
    const c = iban.charCodeAt((k + 4) % iban.length);
    if (c >= 0x30 && c <= 0x39) remainder = (remainder * 10 + (c - 0x30)) % 97;
    else if (c >= 0x41 && c <= 0x5a) remainder = (remainder * 100 + (c - 0x41 + 10)) % 97;
    else if (c !== 0x20) return false;
  }
  return remainder === 1;
}
