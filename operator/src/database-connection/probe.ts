import type { DatabaseConnectionReason, DynamicCredentials } from '@pgwarden/crds';
import { checkDynamicAdmin } from '../credentials/admin-check.js';
import { connectDatabase, type DatabaseTarget, NO_TLS_MESSAGE } from './client.js';

export interface ProbeTarget extends DatabaseTarget {
  /** Set for dynamic credentials: `credentials` is then the admin role, and the probe checks it can manage roles. */
  dynamic?: DynamicCredentials;
}

export type ProbeResult =
  | {
      ok: true;
      serverVersion: string;
      versionString: string;
      tls: boolean;
      /** Reachable, but grants cannot use it (dynamic credentials the admin role cannot make). */
      unusable?: { reason: DatabaseConnectionReason; message: string };
    }
  | { ok: false; reason: DatabaseConnectionReason; message: string };

/**
 * Connects as the connection's role (TCP, TLS per sslmode, authentication),
 * runs SELECT version() and, for dynamic credentials, checks the admin role.
 * Every failure becomes a reason; nothing throws.
 */
export async function probeDatabase(target: ProbeTarget): Promise<ProbeResult> {
  let connected: Awaited<ReturnType<typeof connectDatabase>> | undefined;
  try {
    connected = await connectDatabase(target, 'pgwarden-operator-probe');
    const { client, tls } = connected;
    const { rows } = await client.query<{ version: string; server_version: string }>(
      "SELECT version() AS version, current_setting('server_version') AS server_version",
    );
    const row = rows[0];
    if (!row) return { ok: false, reason: 'ProbeFailed', message: 'SELECT version() returned no row' };
    const unusable = target.dynamic ? await checkDynamicAdmin(client, target.dynamic) : undefined;
    return {
      ok: true,
      serverVersion: row.server_version,
      versionString: row.version,
      tls,
      ...(unusable && { unusable }),
    };
  } catch (error) {
    return classify(error, target);
  } finally {
    await connected?.client.end().catch(() => undefined);
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
  if (message.includes(NO_TLS_MESSAGE))
    return fail('TlsUnavailable', `${where} does not offer TLS, which the tls mode requires`);
  if (certificateErrors.has(code))
    return fail('TlsVerificationFailed', `${where}: server certificate not accepted: ${message}`);
  // SQLSTATE class 28: invalid authorization (wrong password, no pg_hba entry).
  if (code.startsWith('28'))
    return fail('AuthenticationFailed', `${where} refused role "${credentials.user}": ${message}`);
  if (code === '3D000') return fail('DatabaseNotFound', `${where} has no database "${database}"`);
  return fail('ProbeFailed', `${where}: ${message}`);
}
