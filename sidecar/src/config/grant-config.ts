import { readFileSync } from 'node:fs';
import { ConfigError } from './config-error.js';

/** Grant mode: the operator's grant decides the policy, the upstream and the credential. */
export interface GrantAccessConfig {
  mode: 'grant';
  /** The operator's grant endpoint (https). */
  grantUrl: URL;
  /** The projected service-account token; read again for every request, as the kubelet rotates it. */
  tokenFile: string;
  /** The operator's CA: the only one trusted for the grant API. */
  caPem: string;
  /** The pod as the webhook named it (PGWARDEN_POD_*), for logs; the grant's subject is what counts. */
  pod: { namespace: string | null; name: string | null };
}

/** The options grant mode reads, as the CLI and environment give them. */
export interface GrantOptions {
  grantUrl: string;
  tokenFile?: string | undefined;
  grantCaFile?: string | undefined;
  upstream?: string | undefined;
  policy?: string | undefined;
  upstreamPasswordFile?: string | undefined;
  podName?: string | undefined;
  podNamespace?: string | undefined;
}

/** Options that the grant supplies, so giving them too is a mistake worth stopping for. */
const FROM_THE_GRANT = [
  ['upstream', '--upstream (env PGWARDEN_UPSTREAM)'],
  ['policy', '--policy (env PGWARDEN_POLICY)'],
  ['upstreamPasswordFile', '--upstream-password-file (env PGWARDEN_UPSTREAM_PASSWORD_FILE)'],
] as const;

export function loadGrantAccessConfig(o: GrantOptions): GrantAccessConfig {
  const conflicting = FROM_THE_GRANT.filter(([key]) => o[key] !== undefined).map(([, name]) => name);
  if (conflicting.length > 0) {
    throw new ConfigError(
      `grant-url: in grant mode the operator's grant gives the upstream, its credential and the policy; remove ${conflicting.join(', ')}, or drop --grant-url to run standalone`,
    );
  }
  let grantUrl: URL;
  try {
    grantUrl = new URL(o.grantUrl);
  } catch {
    throw new ConfigError(`grant-url: not a valid URL: ${o.grantUrl}`);
  }
  if (grantUrl.protocol !== 'https:') {
    throw new ConfigError(
      `grant-url: must be an https:// URL (the answer carries a database credential), not ${grantUrl.protocol}//`,
    );
  }
  if (!o.tokenFile) {
    throw new ConfigError(
      'token-file: grant mode needs --token-file FILE (env PGWARDEN_TOKEN_FILE): the projected service-account token with audience pgwarden.io',
    );
  }
  if (!o.grantCaFile) {
    throw new ConfigError(
      "ca-file: grant mode needs --ca-file FILE (env PGWARDEN_GRANT_CA_FILE): the PEM CA that signs the operator's certificate",
    );
  }
  return {
    mode: 'grant',
    grantUrl,
    tokenFile: o.tokenFile,
    caPem: readCaFile(o.grantCaFile),
    pod: { namespace: o.podNamespace || null, name: o.podName || null },
  };
}

function readCaFile(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `ca-file: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError(`ca-file: ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return pem;
}
