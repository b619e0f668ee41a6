import { type ErrorFields, PgError } from '../wire/error-response.js';

export type UpstreamFailureKind = 'connect' | 'tls' | 'auth' | 'refused' | 'lost';

/** A failure on the upstream side, told to the client as a PgError and counted by kind. */
export class UpstreamFailure extends PgError {
  constructor(
    readonly kind: UpstreamFailureKind,
    fields: ErrorFields,
  ) {
    super(fields);
  }
}

/**
 * Every error the proxy raises towards a client, with its SQLSTATE. Messages
 * name the cause and what to do next; none carries a credential.
 */
export const ProxyErrors = {
  protocolViolation: (reason: string) =>
    new PgError({ severity: 'FATAL', code: '08P01', message: `pgwarden: protocol violation: ${reason}` }),
  messageTooLarge: (type: string, size: number, limit: number) =>
    new PgError({
      severity: 'FATAL',
      code: '08P01',
      message: `pgwarden: ${type} message of ${size} bytes exceeds the limit of ${limit} bytes`,
      hint: 'Send smaller messages, or raise --max-message-size / --max-copy-data-size on the sidecar.',
    }),
  startupParameterRefused: (name: string, why: string) =>
    new PgError({
      severity: 'FATAL',
      code: '42501',
      message: `pgwarden: startup parameter "${name}" is not allowed: ${why}`,
      hint: 'Remove it from the connection string; use SET inside the session where the policy allows it.',
    }),
  tooManyConnections: (limit: number) =>
    new PgError({
      severity: 'FATAL',
      code: '53300',
      message: `pgwarden: too many client connections (limit ${limit})`,
      hint: 'Close idle connections or raise --max-connections on the sidecar.',
    }),
  shuttingDown: () =>
    new PgError({
      severity: 'FATAL',
      code: '57P01',
      message: 'pgwarden: the sidecar is shutting down',
      hint: 'Reconnect; a new sidecar instance will take the connection.',
    }),
  clientAuthFailed: (user: string) =>
    new PgError({
      severity: 'FATAL',
      code: '28P01',
      message: `pgwarden: password authentication failed for user "${user}"`,
    }),
  upstreamUnreachable: (endpoint: string, reason: string) =>
    new UpstreamFailure('connect', {
      severity: 'FATAL',
      code: '08006',
      message: `pgwarden: cannot connect to upstream ${endpoint}: ${reason}`,
      hint: 'Check that the database is running and reachable from this pod, and the sidecar upstream settings.',
    }),
  upstreamTls: (endpoint: string, reason: string) =>
    new UpstreamFailure('tls', {
      severity: 'FATAL',
      code: '08006',
      message: `pgwarden: TLS to upstream ${endpoint} failed: ${reason}`,
      hint: 'Check sslmode and sslrootcert: the CA must sign the server certificate, and for verify-full the host name must match it.',
    }),
  upstreamAuth: (endpoint: string, reason: string) =>
    new UpstreamFailure('auth', {
      severity: 'FATAL',
      code: '28000',
      message: `pgwarden: authentication to upstream ${endpoint} failed: ${reason}`,
      hint: 'The sidecar credential for the upstream is wrong or unsupported; fix it in the sidecar configuration.',
    }),
  upstreamLost: (endpoint: string) =>
    new UpstreamFailure('lost', {
      severity: 'FATAL',
      code: '08006',
      message: `pgwarden: lost the connection to upstream ${endpoint}`,
      hint: 'The database closed the connection or became unreachable; reconnect to retry.',
    }),
  maskingUnavailable: (reason: string) =>
    new PgError({
      severity: 'FATAL',
      code: '58000',
      message: `pgwarden: cannot read which columns the policy masks (${reason}), so no statement can run`,
      hint: 'The policy masks columns and pgwarden reads them from the database catalog; check that the database is reachable and reconnect.',
    }),
} as const;
