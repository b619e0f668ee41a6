import { isIP } from 'node:net';
import { type UpstreamEndpoint, UpstreamEndpointSchema } from '@pgwarden/crds';
import { ConfigError, formatIssues } from './config-error.js';
import { Secret } from './secret.js';

export interface Upstream {
  endpoint: UpstreamEndpoint;
  password: Secret | null;
}

const KNOWN_PARAMS = new Set(['sslmode', 'sslrootcert', 'connect_timeout']);

/**
 * Parses a libpq-style URL (postgresql://user:pass@host:port/db?sslmode=…).
 * Error messages never echo the URL, which carries the password.
 */
export function parseUpstreamUrl(raw: string, passwordOverride?: Secret): Upstream {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      'upstream: not a valid URL; expected postgresql://user:password@host:port/database?sslmode=…',
    );
  }
  if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:') {
    throw new ConfigError(`upstream: scheme must be postgresql://, got ${url.protocol}//`);
  }
  for (const key of url.searchParams.keys()) {
    if (!KNOWN_PARAMS.has(key)) {
      throw new ConfigError(
        `upstream: unsupported parameter "${key}"; supported: ${[...KNOWN_PARAMS].join(', ')}`,
      );
    }
  }
  const host = decodeURIComponent(url.hostname.replace(/^\[|\]$/g, ''));
  const connectTimeout = url.searchParams.get('connect_timeout');
  const candidate = {
    host,
    port: url.port ? Number(url.port) : undefined,
    database: decodeURIComponent(url.pathname.replace(/^\//, '')),
    user: decodeURIComponent(url.username),
    sslMode: url.searchParams.get('sslmode') ?? defaultSslMode(host),
    sslRootCert: url.searchParams.get('sslrootcert') ?? undefined,
    connectTimeoutMs: connectTimeout ? Number(connectTimeout) * 1000 : undefined,
  };
  const parsed = UpstreamEndpointSchema.safeParse(candidate);
  if (!parsed.success) throw new ConfigError(`upstream: ${formatIssues(parsed.error.issues)}`);
  const password = passwordOverride ?? (url.password ? new Secret(decodeURIComponent(url.password)) : null);
  return { endpoint: parsed.data, password };
}

/** Loopback traffic never leaves the host, so plaintext is the safe default only there. */
function defaultSslMode(host: string): string {
  return isLoopback(host) ? 'prefer' : 'verify-full';
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** host:port for logs and errors; never includes credentials. */
export function describeEndpoint(e: UpstreamEndpoint): string {
  return `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}/${e.database}`;
}
