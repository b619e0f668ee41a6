// What goes into a test cluster's configuration files and bootstrap SQL; no I/O here.

export const superuserName = 'pgwarden';
export const databaseName = 'app';

/** The non-superuser login roles every cluster has, one per password authentication method. */
export const testRoles = {
  scram: { user: 'scram_user', hbaMethod: 'scram-sha-256', passwordEncryption: 'scram-sha-256' },
  // hba `md5` silently upgrades to SCRAM when the stored verifier is SCRAM, so
  // the role must be created with an MD5 verifier for MD5 to happen on the wire.
  md5: { user: 'md5_user', hbaMethod: 'md5', passwordEncryption: 'md5' },
  // `password` is cleartext on the wire whatever the stored verifier is.
  plain: { user: 'plain_user', hbaMethod: 'password', passwordEncryption: 'scram-sha-256' },
} as const;
export type TestRole = keyof typeof testRoles;

const testRoleList = Object.values(testRoles);

/**
 * pg_hba.conf: each role over TCP with its own method; `host` (not `hostssl`) so the same role
 * can be tested with and without TLS. The unix socket is the harness's own back door.
 */
export function renderHba(): string {
  const tcpLogins = [{ user: superuserName, hbaMethod: 'scram-sha-256' }, ...testRoleList];
  const rows = [
    ['local', 'all', superuserName, '', 'trust'],
    ...tcpLogins.flatMap(({ user, hbaMethod }) =>
      ['127.0.0.1/32', '::1/128'].map((address) => ['host', 'all', user, address, hbaMethod]),
    ),
  ];
  return `${rows.map((row) => row.join('\t')).join('\n')}\n`;
}

/** postgresql.conf lines; later lines win, so callers put overrides last. */
export function renderSettings(settings: Record<string, string>): string {
  return Object.entries(settings)
    .map(([name, value]) => `${settingName(name)} = ${confString(value)}\n`)
    .join('');
}

/** psql script run over the unix socket as the superuser, connected to `postgres`. */
export function bootstrapSql(
  superuserPassword: string,
  users: Readonly<Record<TestRole, { password: string }>>,
): string {
  const grantees = testRoleList.map((r) => r.user).join(', ');
  return [
    `ALTER ROLE ${superuserName} PASSWORD ${sqlString(superuserPassword)};`,
    ...Object.entries(testRoles).flatMap(([role, { user, passwordEncryption }]) => [
      `SET password_encryption = ${sqlString(passwordEncryption)};`,
      `CREATE ROLE ${user} LOGIN PASSWORD ${sqlString(users[role as TestRole].password)};`,
    ]),
    `CREATE DATABASE ${databaseName} OWNER ${superuserName};`,
    `\\connect ${databaseName}`,
    `GRANT CONNECT ON DATABASE ${databaseName} TO ${grantees};`,
    // PostgreSQL 15 took CREATE on public away from PUBLIC.
    `GRANT USAGE, CREATE ON SCHEMA public TO ${grantees};`,
  ].join('\n');
}

function settingName(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(name)) throw new Error(`not a PostgreSQL setting name: ${name}`);
  return name;
}

// postgresql.conf strings take backslash escapes as well as doubled quotes; a
// raw newline would end the line and let a value inject further settings.
function confString(value: string): string {
  if (/[\r\n]/.test(value)) {
    throw new Error(`setting values cannot contain line breaks: ${JSON.stringify(value)}`);
  }
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
