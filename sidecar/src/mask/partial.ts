/**
 * Partial masking: shows the first keepFirst and the last keepLast characters of a
 * value and replaces every other character with one '*', leaving separators in
 * place so the value keeps its shape (123-45-6789, keepLast 4 → ***-**-6789).
 *
 * - A character is an extended grapheme cluster: "é" written as e + U+0301, a flag
 *   or a family emoji is one character, so masking never leaves a dangling accent
 *   or half a surrogate pair.
 * - Separators are exactly the ASCII characters in SEPARATORS. They are always kept
 *   and do not count toward keepFirst/keepLast: keepLast 4 of a phone number means
 *   its last four digits, not "-" and three digits.
 * - A value with no more characters than keepFirst + keepLast is masked whole:
 *   partial never reveals a value entirely (a 4-digit PIN with keepLast 4 → ****).
 * - Length and separator positions stay visible by design (format-preserving).
 */

/**
 * Space, hyphen-minus, full stop, slash, parentheses, plus and at sign: the
 * punctuation of SSNs, phone and card numbers, dates and email addresses.
 */
const SEPARATORS = ' -./()+@';
const MASK = 0x2a; // *

const SEPARATOR_BYTE = new Uint8Array(128);
for (const ch of SEPARATORS) SEPARATOR_BYTE[ch.charCodeAt(0)] = 1;

/** A column value's bytes (UTF-8) masked; for ASCII, without decoding them. */
export function partialMaskBytes(value: Buffer, keepFirst: number, keepLast: number): Buffer {
  // In ASCII every byte is its own grapheme cluster except CR LF, the one ASCII
  // cluster of two characters: such values take the cluster path.
  let count = 0;
  for (let i = 0; i < value.length; i++) {
    const b = value[i] as number;
    if (b >= 0x80 || b === 0x0d) {
      return Buffer.from(maskClusters(value.toString('utf8'), keepFirst, keepLast));
    }
    if (SEPARATOR_BYTE[b] === 0) count++;
  }
  const revealAny = count > keepFirst + keepLast;
  const out = Buffer.allocUnsafe(value.length);
  let index = 0;
  for (let i = 0; i < value.length; i++) {
    const b = value[i] as number;
    if (SEPARATOR_BYTE[b] === 1) out[i] = b;
    else {
      out[i] = revealAny && (index < keepFirst || index >= count - keepLast) ? b : MASK;
      index++;
    }
  }
  return out;
}

/** A text (a detector's span, a JSON string) masked. */
export function partialMask(text: string, keepFirst: number, keepLast: number): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80 || c === 0x0d) return maskClusters(text, keepFirst, keepLast);
  }
  return partialMaskBytes(Buffer.from(text, 'latin1'), keepFirst, keepLast).toString('latin1');
}

/**
 * Characters that can form a cluster with a neighbour: CR (of CR LF), marks,
 * joiners and other format characters, Hangul jamo, emoji modifiers, regional
 * indicators, Thai and Lao SARA AM, and the Prepend letters of Unicode 16 that
 * are not format characters. Text without them clusters by code point, which is
 * an order of magnitude cheaper than Intl.Segmenter.
 */
const CLUSTER_EXTENDERS =
  /[\r\p{M}\p{Cf}\u0e33\u0eb3\u0d4e\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff\u{111c2}\u{111c3}\u{113d1}\u{1193f}\u{11941}\u{11a3a}\u{11a84}-\u{11a89}\u{11d46}\u{11f02}\u{1f1e6}-\u{1f1ff}\u{1f3fb}-\u{1f3ff}]/u;
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

function maskClusters(text: string, keepFirst: number, keepLast: number): string {
  const chars = CLUSTER_EXTENDERS.test(text)
    ? Array.from(graphemes.segment(text), (s) => s.segment)
    : Array.from(text);
  let count = 0;
  for (const ch of chars) if (!isSeparator(ch)) count++;
  const revealAny = count > keepFirst + keepLast;
  let index = 0;
  return chars
    .map((ch) => {
      if (isSeparator(ch)) return ch;
      const shown = revealAny && (index < keepFirst || index >= count - keepLast);
      index++;
      return shown ? ch : '*';
    })
    .join('');
}

function isSeparator(ch: string): boolean {
  return ch.length === 1 && SEPARATOR_BYTE[ch.charCodeAt(0)] === 1;
}
