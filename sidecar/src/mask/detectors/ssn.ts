import { NO_SPANS, type Span, withSpan } from '../spans.js';
import { isWholeNumber } from './chars.js';
import { hasDigitGroup } from './digit-gate.js';

/**
 * US Social Security numbers:
 * - AAA-GG-SSSS or AAA GG SSSS (the same separator twice);
 * - nine bare digits only right after an "ssn" or "SSN" label ("SSN: 123456789", a unique
 *   violation's "Key (ssn)=(123456789)"): unlabelled nine-digit numbers are as often
 *   order ids or ZIP+4 codes, so they are left alone (a known false negative).
 * Never issued, so never matched: area 000, 666 and 900–999, group 00, serial 0000.
 * A piece of a longer number ("1-123-45-6789", "12 123 45 6789") is not an SSN.
 */

const FORMATTED = /\d{3}[- ]\d\d[- ]\d{4}/g;
// The label may be followed by up to four non-alphanumerics: ": ", ")=(", "# ", " = '".
const LABELLED = /ssn[^a-z0-9]{0,4}\d{9}/gi;

export function find(text: string): readonly Span[] {
  if (!hasDigitGroup(text)) return NO_SPANS;
  let spans: Span[] | undefined;
  FORMATTED.lastIndex = 0;
  for (let m = FORMATTED.exec(text); m !== null; m = FORMATTED.exec(text)) {
    const start = m.index;
    const end = start + 11;
    const separator = text.charAt(start + 3);
    if (
      text.charAt(start + 6) === separator &&
      isWholeNumber(text, start, end, separator) &&
      validParts(text, start, start + 4, start + 7)
    ) {
      spans = withSpan(spans, { start, end });
    } else {
      FORMATTED.lastIndex = start + 1;
    }
  }
  if (!text.includes('ssn') && !text.includes('SSN')) return spans ?? NO_SPANS;
  LABELLED.lastIndex = 0;
  for (let m = LABELLED.exec(text); m !== null; m = LABELLED.exec(text)) {
    const end = m.index + m[0].length; // the nine digits end the match
    const start = end - 9;
    if (isWholeNumber(text, start, end, '') && validParts(text, start, start + 3, start + 5)) {
      spans = withSpan(spans, { start, end });
    }
  }
  return spans ?? NO_SPANS;
}

/** Area (3 digits), group (2) and serial (4) starting at the given offsets. */
function validParts(text: string, area: number, group: number, serial: number): boolean {
  const a = text.slice(area, area + 3);
  return (
    a !== '000' &&
    a !== '666' &&
    a[0] !== '9' &&
    text.slice(group, group + 2) !== '00' &&
    text.slice(serial, serial + 4) !== '0000'
  );
}
