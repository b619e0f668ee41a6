/**
 * The recorder's last net for credentials. Masking happens before values reach
 * the recorder; these patterns catch credentials that are part of the SQL or of
 * connection strings rather than of data: PASSWORD literals (CREATE/ALTER ROLE),
 * password=… in conninfo strings (dblink, postgres_fdw), user:password@ in URLs.
 */

export const REDACTED = '[redacted]';

const ROLE_PASSWORD =
  /\b(PASSWORD\s+)(?:[Ee]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'|\$([A-Za-z_]\w*)?\$[\s\S]*?\$\2\$)/gi;
const CONNINFO_PASSWORD = /\b(pass(?:word|wd)?\s*=\s*)(?:'(?:[^'\\]|\\.)*'|[^\s'"&;]+)/gi;
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]*:)[^\s@/'"]+@/gi;

export function scrubCredentials(text: string): string {
  if (!/pass|:\/\//i.test(text)) return text;
  return text
    .replace(ROLE_PASSWORD, `$1'${REDACTED}'`)
    .replace(CONNINFO_PASSWORD, `$1${REDACTED}`)
    .replace(URL_PASSWORD, `$1${REDACTED}@`);
}

export function scrubNullable(text: string | null | undefined): string | null {
  return text == null ? null : scrubCredentials(text);
}
