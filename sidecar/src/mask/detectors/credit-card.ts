import { NO_SPANS, type Span, withSpan } from '../spans.js';
import { luhnValid } from './checksums.js';
import { hasDigitGroup } from './digit-gate.js';

/**
 * Payment card numbers: 13–19 digits, optionally split by single spaces or dashes
 * ("4111 1111 1111 1111", "3782-822463-10005"), that pass Luhn and start with a
 * major network's issuer prefix at a length that network issues.
 *
 * Digits joined by single separators form a run ("paid 4111 1111 1111 1111 12/25"
 * holds the run "4111 1111 1111 1111 12"). A candidate is a stretch of whole groups
 * of a run in a shape cards are printed in — one group of 13–19 digits, groups of
 * four with a last group of one to four (4-4-4-4, 4-4-4-4-3), or 4-6-5 / 4-6-4
 * (American Express, Diners) — so a card next to another number is still found,
 * while a list of numbers ("592 6032 3888 6704 3664") rarely forms one.
 * Digits never split inside a group: 20 or more contiguous digits are an id.
 * Known false positives: a 13–19 digit id that starts with a card prefix passes
 * Luhn 1 time in 10 (an order number 4… of 16 digits), and so does a list of
 * four-digit numbers that happens to start with one.
 */

const RUN = /\d(?:[ -]?\d)*/g;
const MIN_DIGITS = 13;
const MAX_DIGITS = 19;

/**
 * Group lengths of the current run, reused across calls (detection is synchronous)
 * and never shrunk: truncating an array costs more than the few stale entries.
 */
const lengths: number[] = [];

export function find(text: string): readonly Span[] {
  if (!hasDigitGroup(text)) return NO_SPANS;
  let spans: Span[] | undefined;
  RUN.lastIndex = 0;
  for (let m = RUN.exec(text); m !== null; m = RUN.exec(text)) {
    const run = m[0];
    if (run.length < MIN_DIGITS) continue;
    // Read from the text itself: m[0] is a substring, one more indirection per read.
    let groups = 0;
    let length = 0;
    for (let k = m.index; k < m.index + run.length; k++) {
      const c = text.charCodeAt(k);
      if (c >= 0x30 && c <= 0x39) length++;
      else {
        lengths[groups++] = length;
        length = 0;
      }
    }
    lengths[groups++] = length;
    let start = m.index;
    for (let i = 0; i < groups; i++) {
      const first = lengths[i] as number;
      if (first >= MIN_DIGITS && first <= MAX_DIGITS) spans = check(text, start, i, i, spans);
      if (first === 4) {
        // 4-6-5 and 4-6-4 (American Express, Diners).
        const third = lengths[i + 2];
        if (i + 2 < groups && lengths[i + 1] === 6 && (third === 5 || third === 4)) {
          spans = check(text, start, i, i + 2, spans);
        }
        // Groups of four, the last one to four long.
        let digits = first;
        for (let j = i + 1; j < groups; j++) {
          const next = lengths[j] as number;
          digits += next;
          if (next > 4 || digits > MAX_DIGITS) break;
          if (digits >= MIN_DIGITS) spans = check(text, start, i, j, spans);
          if (next !== 4) break;
        }
      }
      start += first + 1;
    }
  }
  return spans ?? NO_SPANS;
}

/** Adds groups i..j of the current run (starting at `start` in the text) when they are a card number. */
function check(
  text: string,
  start: number,
  i: number,
  j: number,
  spans: Span[] | undefined,
): Span[] | undefined {
  let digits = '';
  let end = start;
  for (let k = i; k <= j; k++) {
    if (k > i) end++; // the separator between two groups
    digits += text.slice(end, end + (lengths[k] as number));
    end += lengths[k] as number;
  }
  if (!issuerAccepts(digits) || !luhnValid(digits)) return spans;
  return withSpan(spans, { start, end });
}

const MAESTRO = new Set([5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763]);

/** Issuer identification number ranges and the lengths each network issues. */
function issuerAccepts(digits: string): boolean {
  const n = digits.length;
  let p6 = 0;
  for (let k = 0; k < 6; k++) p6 = p6 * 10 + digits.charCodeAt(k) - 0x30;
  const p4 = Math.floor(p6 / 100);
  const p3 = Math.floor(p6 / 1000);
  const p2 = Math.floor(p6 / 10000);
  if (p2 >= 40 && p2 <= 49) return n === 13 || n === 16 || n === 19; // Visa
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n === 16; // Mastercard
  if (p2 === 34 || p2 === 37) return n === 15; // American Express
  if (p4 === 6011 || (p3 >= 644 && p3 <= 649) || p2 === 65 || (p6 >= 622126 && p6 <= 622925)) {
    return n >= 16 && n <= 19; // Discover
  }
  if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19; // JCB
  if ((p3 >= 300 && p3 <= 305) || p4 === 3095 || p2 === 36 || p2 === 38 || p2 === 39) {
    return n >= 14 && n <= 19; // Diners Club
  }
  if (p2 === 62) return n >= 16 && n <= 19; // UnionPay
  if (MAESTRO.has(p4)) return n >= 13; // Maestro
  return false;
}
