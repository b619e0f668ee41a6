import { NO_SPANS, type Span, withSpan } from '../spans.js';
import { isAsciiAlnum, isWholeNumber } from './chars.js';
import { hasDigitGroup } from './digit-gate.js';

/**
 * Telephone numbers in two shapes that plain numbers do not take:
 * - international, starting with "+": E.164 ("+14155552671") or grouped with
 *   spaces, dots, dashes or a parenthesised group ("+44 20 7946 0958",
 *   "+1 (415) 555-2671"); 8 to 15 digits. When the groups go on past 15 digits,
 *   the longest run of whole groups within 15 is taken, which may include a
 *   neighbouring number ("+1 415 555 2671 3172 99" → "+1 415 555 2671 3172");
 * - North American (NANP) with separators: "(415) 555-2671", "415-555-2671",
 *   "415.555.2671", "415 555 2671", "1-415-555-2671"; area code and exchange
 *   start with 2–9.
 *
 * The trade-off: a bare digit string ("4155552671") is not matched, because ids,
 * amounts, timestamps and years look the same; nor are 7-digit local numbers
 * ("555-2671"). Matched although not a phone: dotted 3-3-4 groups that are
 * something else ("212.555.1234" as a version) and signed numbers of 8–15 digits
 * ("+20240115").
 */

const INTERNATIONAL = /\+[1-9]\d{0,3}(?:[ .-]?(?:\(\d{1,4}\)|\d{1,5})){1,7}/g;
const NANP = /(?:1[ .-])?(?:\([2-9]\d\d\) ?|[2-9]\d\d[ .-])[2-9]\d\d[ .-]\d{4}/g;
const MIN_INTERNATIONAL_DIGITS = 8;
const MAX_INTERNATIONAL_DIGITS = 15;

export function find(text: string): readonly Span[] {
  let spans: Span[] | undefined;
  if (text.includes('+')) {
    INTERNATIONAL.lastIndex = 0;
    for (let m = INTERNATIONAL.exec(text); m !== null; m = INTERNATIONAL.exec(text)) {
      const length = internationalLength(m[0]);
      if (length > 0 && !isAsciiAlnum(text, m.index - 1)) {
        spans = withSpan(spans, { start: m.index, end: m.index + length });
      }
    }
  }
  if (!hasDigitGroup(text)) return spans ?? NO_SPANS;
  NANP.lastIndex = 0;
  for (let m = NANP.exec(text); m !== null; m = NANP.exec(text)) {
    const start = m.index;
    const end = start + m[0].length;
    // Separators a longer number would continue with: the one after the first
    // group on the left, the one before the last group on the right.
    const before = m[0].startsWith('(') ? '' : firstSeparator(m[0]);
    const after = m[0].charAt(m[0].length - 5);
    // "+1 415-555-2671" was judged above as international.
    if (
      text.charCodeAt(start - 1) !== 0x2b &&
      !isAsciiAlnum(text, start - 1) &&
      isWholeNumber(text, start, end, before, after)
    ) {
      spans = withSpan(spans, { start, end });
    } else {
      NANP.lastIndex = start + 1;
    }
  }
  return spans ?? NO_SPANS;
}

/**
 * The length of the longest prefix of a "+…" match that ends at the end of a digit
 * group and holds 8–15 digits, or 0. Only a visible separator ends a group:
 * "+4930123456789012" (16 contiguous digits) is no phone number at all.
 */
function internationalLength(match: string): number {
  let digits = 0;
  let best = 0;
  for (let i = 0; i < match.length; i++) {
    const c = match.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) digits++;
    if (digits > MAX_INTERNATIONAL_DIGITS) return best;
    const next = match.charCodeAt(i + 1);
    const groupEnds = i + 1 === match.length || isSeparator(next) || next === 0x28; /* ( */
    if (groupEnds && digits >= MIN_INTERNATIONAL_DIGITS) best = i + 1;
  }
  return best;
}

function firstSeparator(match: string): string {
  for (let i = 0; i < match.length; i++) if (isSeparator(match.charCodeAt(i))) return match.charAt(i);
  return '';
}

/** Space, full stop or hyphen-minus. */
function isSeparator(c: number): boolean {
  return c === 0x20 || c === 0x2e || c === 0x2d;
}
