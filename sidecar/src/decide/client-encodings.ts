/**
 * Client-only encodings in which a byte 0x5C ("\\") can be the second byte of a
 * multibyte character, under every name PostgreSQL accepts for them (SJIS,
 * BIG5, GBK, UHC, GB18030, JOHAB and their aliases). PostgreSQL forbids them as
 * server encodings for that reason; as a client encoding they let the server
 * split a string literal where pgwarden's UTF-8 reading of the same bytes does
 * not, so the statement that runs could differ from the one decided.
 */
const UNSAFE_CLIENT_ENCODINGS = new Set([
  'sjis',
  'shiftjis',
  'mskanji',
  'win932',
  'windows932',
  'shiftjis2004',
  'big5',
  'win950',
  'windows950',
  'gbk',
  'win936',
  'windows936',
  'uhc',
  'win949',
  'windows949',
  'gb18030',
  'johab',
]);

/** PostgreSQL matches encoding names ignoring case and every character that is not a letter or digit. */
export function isUnsafeClientEncoding(name: string): boolean {
  return UNSAFE_CLIENT_ENCODINGS.has(name.toLowerCase().replace(/[^a-z0-9]/g, ''));
}
