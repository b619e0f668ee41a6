import type { ConnectionOptions } from 'node:tls';
import type { DatabaseConnectionReason, SslMode } from '@pgwarden/crds';
import pg from 'pg';
import type { Credentials } from './credentials.js';

export interface ProbeTarget {
  host: string;
  port: number;
  database: string;
  tlsMode: SslMode;
  connectTimeoutMs: number;
  credentials: Credentials;
}

export type ProbeResult =
  | { ok: true; serverVersion: string; versionString: string; tls: boolean }
  | { ok: false; reason: DatabaseConnectionReason; message: string };

const noTls = 'The server does not support SSL connections';

/**
 * Connects as the connection's role (TCP, TLS per sslmode, authentication)
 * and runs SELECT version(). Every failure becomes a reason; nothing throws.
 */
export async function probeDatabase(target: ProbeTarget): Promise<ProbeResult> {
  if (target.tlsMode !== 'prefer') return attempt(target, tlsOptions(target));
  // prefer: TLS when the server offers it, plaintext otherwise (libpq's meaning).
  const tls = await attempt(target, { rejectUnauthorized: false });
  if (!tls.ok && tls.reason === 'TlsUnavailable') return attempt(target, false);
  return tls;
}

function tlsOptions({ tlsMode, host, credentials }: ProbeTarget): ConnectionOptions | false {
  switch (tlsMode) {
    case 'disable':
      return false;
    case 'prefer':
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      // The chain is verified, the name is not.
      return { ca: credentials.caPem, rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { ca: credentials.caPem, rejectUnauthorized: true, servername: isIp(host) ? undefined : host };
  }
}

async function attempt(target: ProbeTarget, ssl: ConnectionOptions | false): Promise<ProbeResult> {
  const client = new pg.Client({
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.credentials.user,
    password: target.credentials.password,
    ssl,
    connectionTimeoutMillis: target.connectTimeoutMs,
    query_timeout: target.connectTimeoutMs,
    application_name: 'pgwarden-operator-probe',
  });
  // A connection that breaks after connect() would otherwise be an unhandled 'error'.
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ version: string; server_version: string }>(
      "SELECT version() AS version, current_setting('server_version') AS server_version",
    );
    const row = rows[0];
    if (!row) return { ok: false, reason: 'ProbeFailed', message: 'SELECT version() returned no row' };
    return { ok: true, serverVersion: row.server_version, versionString: row.version, tls: ssl !== false };
  } catch (error) {
    return classify(error, target);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const certificateErrors = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function classify(error: unknown, { host, port, database, credentials }: ProbeTarget): ProbeResult {
  const code = String((error as { code?: unknown }).code ?? '');
  const message = error instanceof Error ? error.message : String(error);
  const fail = (reason: DatabaseConnectionReason, text: string): ProbeResult => ({
    ok: false,
    reason,
    message: text,
  });
  const where = `${host}:${port}`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return fail('HostNotFound', `cannot resolve ${host}: ${message}`);
  if (code === 'ECONNREFUSED') return fail('ConnectionRefused', `${where} refused the connection`);
  if (code === 'ETIMEDOUT' || /timeout/i.test(message)) return fail('Timeout', `${where}: ${message}`);
  if (message.includes(noTls))
    return fail('TlsUnavailable', `${where} does not offer TLS, which the tls mode requires`);
  if (certificateErrors.has(code))
    return fail('TlsVerificationFailed', `${where}: server certificate not accepted: ${message}`);
  // SQLSTATE class 28: invalid authorization (wrong password, no pg_hba entry).
  if (code.startsWith('28'))
    return fail('AuthenticationFailed', `${where} refused role "${credentials.user}": ${message}`);
  if (code === '3D000') return fail('DatabaseNotFound', `${where} has no database "${database}"`);
  return fail('ProbeFailed', `${where}: ${message}`);
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}
