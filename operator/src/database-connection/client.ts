import type { ConnectionOptions } from 'node:tls';
import { type DatabaseConnectionSpec, parseDurationMs, type SslMode } from '@pgwarden/crds';
import pg from 'pg';
import type { Credentials } from './credentials.js';

/** A database and the role to reach it as: the probe's and the role manager's target. */
export interface DatabaseTarget {
  host: string;
  port: number;
  database: string;
  tlsMode: SslMode;
  connectTimeoutMs: number;
  credentials: Credentials;
}

export function databaseTarget(spec: DatabaseConnectionSpec, credentials: Credentials): DatabaseTarget {
  return {
    host: spec.host,
    port: spec.port,
    database: spec.database,
    tlsMode: spec.tls.mode,
    connectTimeoutMs: parseDurationMs(spec.connectTimeout) ?? 10_000,
    credentials,
  };
}

/** pg's message when the server answers an SSLRequest with 'N'. */
export const NO_TLS_MESSAGE = 'The server does not support SSL connections';

/**
 * A connected client (TCP, TLS per sslmode, authentication); `prefer` means
 * TLS when the server offers it and plaintext otherwise, as in libpq. Throws
 * pg's error; the caller closes the client with end().
 */
export async function connectDatabase(
  target: DatabaseTarget,
  applicationName: string,
): Promise<{ client: pg.Client; tls: boolean }> {
  if (target.tlsMode !== 'prefer') return open(target, tlsOptions(target), applicationName);
  try {
    return await open(target, { rejectUnauthorized: false }, applicationName);
  } catch (error) {
    if (!(error instanceof Error) || !error.message.includes(NO_TLS_MESSAGE)) throw error;
    return open(target, false, applicationName);
  }
}

async function open(
  target: DatabaseTarget,
  ssl: ConnectionOptions | false,
  applicationName: string,
): Promise<{ client: pg.Client; tls: boolean }> {
  const client = new pg.Client({
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.credentials.user,
    password: target.credentials.password,
    ssl,
    connectionTimeoutMillis: target.connectTimeoutMs,
    query_timeout: target.connectTimeoutMs,
    application_name: applicationName,
  });
  // A connection that breaks after connect() would otherwise be an unhandled 'error'.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return { client, tls: ssl !== false };
}

function tlsOptions({ tlsMode, host, credentials }: DatabaseTarget): ConnectionOptions | false {
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

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}
