/**
 * Client-only encodings in which a byte 0x5C ("\") can be the second byte of a
 * multibyte character. PostgreSQL forbids them as server encodings for that
 * reason; as a client encoding they let the server split a string literal
 * where pgwarden's UTF-8 reading of the same bytes does not, so the statement
 * that runs could differ from the one decided.
 */
const UNSAFE_CLIENT_ENCODINGS = new Set([
  'sjis',
  'shiftjis',
  'shiftjis2004',
  'big5',
  'gbk',
  'uhc',
  'gb18030',
  'johab',
  'mskanji',
  'win932',
  'win936',
  'win949',
  'win950',
  'cp932',
  'cp936',
  'cp949',
  'cp950',
]);

/** PostgreSQL compares encoding names ignoring case, "-" and "_". */
export function isUnsafeClientEncoding(name: string): boolean {
  return UNSAFE_CLIENT_ENCODINGS.has(name.toLowerCase().replace(/[-_\s]/g, ''));
}
