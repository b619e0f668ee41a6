import { NO_SPANS, type Span, withSpan } from '../spans.js';
import { isAsciiAlnum } from './chars.js';
import { mod97Valid } from './checksums.js';
import { hasDigitGroup } from './digit-gate.js';

/**
 * International Bank Account Numbers, compact ("DE89370400440532013000") or in
 * the printed groups of four ("DE89 3704 0044 0532 0130 00"): a country code from
 * the IBAN registry, exactly that country's length, and a valid mod-97 check.
 * Upper case only, as IBANs are written; a lower-case IBAN is a known false negative,
 * as is one of a country missing from LENGTHS.
 */

/** IBAN length per country (SWIFT IBAN registry), as country code + length. */
const LENGTHS = new Map<number, number>(
  (
    'AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DJ27 DK18 ' +
    'DO28 EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 IL23 IQ23 ' +
    'IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 LY25 MC27 MD24 ME22 MK19 MN20 MR27 MT31 ' +
    'MU30 NI28 NL18 NO15 OM23 PK24 PL28 PS29 PT25 QA29 RO24 RS22 RU33 SA24 SC31 SD18 SE24 SI19 SK24 ' +
    'SM27 SO23 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20 YE30'
  )
    .split(' ')
    .map((entry) => [countryKey(entry), Number(entry.slice(2))] as const),
);

// Country, check digits, then groups: the greedy run may take a following word
// ("… 0130 00 EUR"), so the country's length decides where the IBAN ends.
const CANDIDATE = /[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}/g;

export function find(text: string): readonly Span[] {
  if (text.length < 15 || !hasDigitGroup(text)) return NO_SPANS;
  let spans: Span[] | undefined;
  CANDIDATE.lastIndex = 0;
  for (let m = CANDIDATE.exec(text); m !== null; m = CANDIDATE.exec(text)) {
    const start = m.index;
    const end = ibanEnd(text, start, m[0]);
    // The greedy candidate may reach into the next IBAN: resume where this one ends.
    if (end !== undefined) spans = withSpan(spans, { start, end });
    CANDIDATE.lastIndex = end ?? start + 1;
  }
  return spans ?? NO_SPANS;
}

/** Where the IBAN starting at `start` ends in the text, or undefined when there is none. */
function ibanEnd(text: string, start: number, candidate: string): number | undefined {
  if (isAsciiAlnum(text, start - 1)) return undefined;
  const length = LENGTHS.get(countryKey(candidate));
  if (length === undefined) return undefined;
  // Printed in groups of four: one space after each full group.
  const printed = candidate.charCodeAt(4) === 0x20;
  const width = printed ? length + Math.floor((length - 1) / 4) : length;
  if (candidate.length < width || isAsciiAlnum(text, start + width)) return undefined;
  const iban = candidate.slice(0, width);
  if (printed ? !spacedByFours(iban) : iban.includes(' ')) return undefined;
  return mod97Valid(iban) ? start + width : undefined;
}

function spacedByFours(iban: string): boolean {
  for (let i = 0; i < iban.length; i++) {
    if ((iban.charCodeAt(i) === 0x20) !== (i % 5 === 4)) return false;
  }
  return true;
}

/** The two-letter country code as a number: looking it up needs no substring. */
function countryKey(s: string): number {
  return (s.charCodeAt(0) << 8) | s.charCodeAt(1);
}
