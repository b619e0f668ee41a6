import { NO_SPANS, type Span, withSpan } from '../spans.js';
import { isAsciiAlnum } from './chars.js';

/**
 * Email addresses: local@domain where the domain has at least two labels and a
 * top-level label of 2–63 letters ("alice@example.com", "bob.smith+tag@mail.co.uk",
 * "jürgen@bücher.de"). Each "@" is expanded outwards, so the cost is linear in the
 * text and zero without an "@".
 *
 * Not matched: addresses at a bare host ("root@localhost"), quoted local parts
 * ("\"a b\"@example.com"), IP-literal domains. Matched although not email:
 * scp/git remotes ("git@github.com:org/repo" → "git@github.com"). A top-level
 * domain is letters, so digits after one end the address: "alice@example.com42"
 * masks as "alice@example.com" and leaves the "42".
 */

const DOMAIN = /(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+\p{L}{2,63}(?![\p{L}-])/uy;
const NON_ASCII_LOCAL = /[\p{L}\p{N}\p{M}]/u;
/** RFC 5321 allows 64 octets; a longer run is not a local part we trust. */
const MAX_LOCAL = 64;

export function find(text: string): readonly Span[] {
  let at = text.indexOf('@');
  if (at === -1) return NO_SPANS;
  let spans: Span[] | undefined;
  for (; at !== -1; at = text.indexOf('@', at + 1)) {
    let start = at;
    while (start > 0 && at - start < MAX_LOCAL && isLocalChar(text, start - 1)) start--;
    if (isLocalChar(text, start - 1)) continue; // a local part longer than any address has
    while (text.charCodeAt(start) === 0x2e /* . */ && start < at) start++; // "…alice@" is "alice@"
    if (start === at) continue;
    DOMAIN.lastIndex = at + 1;
    if (!DOMAIN.test(text)) continue;
    spans = withSpan(spans, { start, end: DOMAIN.lastIndex });
  }
  return spans ?? NO_SPANS;
}

/**
 * Letters, digits and . _ % + -. RFC 5322 allows more (! # $ & ' * / = ? ^ ` { | } ~),
 * but they are rare in addresses and common around them ("email=alice@…",
 * "'alice@…'"), where taking them would mask the text before the address.
 */
function isLocalChar(text: string, i: number): boolean {
  if (isAsciiAlnum(text, i)) return true;
  const c = text.charCodeAt(i);
  if (c < 0x80) return c === 0x2e || c === 0x5f || c === 0x25 || c === 0x2b || c === 0x2d; // . _ % + -
  return NON_ASCII_LOCAL.test(text.charAt(i));
}
