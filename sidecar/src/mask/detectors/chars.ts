/**
 * Character tests on UTF-16 code units. charCodeAt past either end is NaN, which
 * every comparison rejects, so callers need no bounds checks.
 */

function isDigit(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c >= 0x30 && c <= 0x39;
}

export function isAsciiAlnum(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  if (c >= 0x30 && c <= 0x39) return true;
  const lower = c | 0x20; // folds A-Z onto a-z
  return lower >= 0x61 && lower <= 0x7a;
}

function isOneOf(text: string, i: number, chars: string): boolean {
  return i >= 0 && i < text.length && chars.includes(text.charAt(i));
}

/**
 * True when the digits at [start, end) are a whole number, not a piece of a longer
 * one: no digit touches either end, directly or across one of the separators the
 * number itself uses on that side ("1-123-45-6789" and "12 123 45 6789" are longer
 * numbers, "room 12 123-45-6789" is not).
 */
export function isWholeNumber(
  text: string,
  start: number,
  end: number,
  separatorsBefore: string,
  separatorsAfter = separatorsBefore,
): boolean {
  if (isDigit(text, start - 1) || isDigit(text, end)) return false;
  if (isOneOf(text, start - 1, separatorsBefore) && isDigit(text, start - 2)) return false;
  if (isOneOf(text, end, separatorsAfter) && isDigit(text, end + 1)) return false;
  return true;
}
