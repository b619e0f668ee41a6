import { NO_SPANS, type Span, withSpan } from '../spans.js';

/**
 * Credentials, by patterns that rarely occur in anything else:
 * - AWS access key ids: AKIA/ASIA + 16 upper-case letters or digits;
 * - PEM private keys: "-----BEGIN … PRIVATE KEY-----" through the matching END
 *   line, or to the end of the text when the END line is missing (truncated);
 * - GitHub tokens: ghp_/gho_/ghu_/ghs_/ghr_ + 36 or more alphanumerics, github_pat_…;
 * - Slack tokens: xoxb-, xoxa-, xoxp-, xoxr-, xoxs-;
 * - JWT-like tokens: eyJ….eyJ….signature (a JSON header and payload in base64url);
 * - the value of an assignment to a credential-named key — password, passwd,
 *   passphrase, secret, client_secret, api_key, access_key, secret_access_key,
 *   private_key, access_token, auth_token, refresh_token, token — in key=value,
 *   key: value and JSON forms ("DB_PASSWORD=hunter2", {"api_key": "abc"}): only
 *   the value is masked, inside its quotes, so the text stays readable and JSON valid;
 * - the password of a URL ("postgres://app:s3cret@db/app" → the "s3cret").
 * Known misses: credentials with no recognisable shape (a bare random string), keys
 * named otherwise ("pin=1234"). Known false positives: any value assigned to such a
 * key, secret or not ("secret: true", "token=next-page").
 */

// Every pattern below needs one of these ("_" for GitHub tokens, "KEY" for PEM
// headers), so most texts cost this one scan.
const PRECHECK = /[:=_]|KEY|AKIA|ASIA|eyJ|xox/;

interface Pattern {
  readonly re: RegExp;
  /** Substrings of which a match holds at least one: a cheap test before the regex scan. */
  readonly needs: readonly string[];
  /** The span to mask in a match; by default the whole match. */
  readonly span?: (m: RegExpExecArray) => Span;
}

/**
 * The span of capture group 1, 2 or 3 (the first that took part), which ends the
 * match but for `trailing` characters: found from the match's end, so the regex
 * needs no "d" flag (indices cost an allocation per match).
 */
function capturedValue(m: RegExpExecArray, trailing: number): Span {
  const value = m[1] ?? m[2] ?? m[3] ?? '';
  const end = m.index + m[0].length - trailing;
  return { start: end - value.length, end };
}

const PATTERNS: readonly Pattern[] = [
  { re: /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, needs: ['AKIA', 'ASIA'] },
  {
    re: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|$)/g,
    needs: ['PRIVATE KEY'],
  },
  { re: /\bgh[pousr]_[A-Za-z0-9]{36,251}\b/g, needs: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'] },
  { re: /\bgithub_pat_[A-Za-z0-9_]{22,244}\b/g, needs: ['github_pat_'] },
  { re: /\bxox[abprs]-[A-Za-z0-9-]{10,250}/g, needs: ['xox'] },
  { re: /\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, needs: ['eyJ'] },
  {
    // The value, quoted ("…" or '…', masked inside the quotes) or bare, ends the match.
    re: /(?:passw(?:or)?d|passphrase|secret(?:[_-]?access[_-]?key)?|client[_-]?secret|api[_-]?key|access[_-]?key|private[_-]?key|(?:access|auth|refresh)[_-]?token|token)["']?\s*[:=]\s*(?:"([^"\n]+)"|'([^'\n]+)'|([^\s"',;&]+))/gi,
    needs: [':', '='],
    span: (m) => capturedValue(m, m[3] === undefined ? 1 : 0),
  },
  // scheme://user:password@ — the password ends the match but for the "@".
  { re: /\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:([^\s/@]+)@/gi, needs: ['://'], span: (m) => capturedValue(m, 1) },
];

export function find(text: string): readonly Span[] {
  if (!PRECHECK.test(text)) return NO_SPANS;
  let spans: Span[] | undefined;
  for (const { re, needs, span } of PATTERNS) {
    if (!includesAny(text, needs)) continue;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      spans = withSpan(spans, span === undefined ? { start: m.index, end: m.index + m[0].length } : span(m));
    }
  }
  return spans ?? NO_SPANS;
}

function includesAny(text: string, needles: readonly string[]): boolean {
  for (const needle of needles) if (text.includes(needle)) return true;
  return false;
}
