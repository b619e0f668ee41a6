import { readFileSync } from 'node:fs';
import { type CompiledPolicy, LOG_FORMATS, LOG_LEVELS, type LogFormat } from '@pgwarden/crds';
import { z } from 'zod';
import { compilePolicy, PolicyCompileError } from '../decide/compile.js';
import { loadOidcAccessConfig, type OidcAccessConfig } from '../identity/oidc-config.js';
import { ConfigError, formatIssues } from './config-error.js';
import { type GrantAccessConfig, loadGrantAccessConfig } from './grant-config.js';
import { loadPolicyFile } from './policy-file.js';
import { Secret } from './secret.js';
import { ByteSize, Duration, HostPort } from './units.js';
import { isLoopback, parseUpstreamUrl, type Upstream } from './upstream-url.js';

/** Where the standalone approval API listens unless told otherwise; `pgwarden approvals` looks here. */
export const DEFAULT_APPROVAL_LISTEN = '127.0.0.1:9433';

/** Raw options as the CLI and environment give them: every value a string. */
export const ProxyOptionsSchema = z
  .object({
    listen: HostPort.prefault('127.0.0.1:5432'),
    adminListen: z.union([z.literal('off'), HostPort]).prefault('127.0.0.1:9432'),
    upstream: z.string().optional(),
    policy: z.string().optional(),
    upstreamPasswordFile: z.string().optional(),
    grantUrl: z.string().min(1, { error: 'must not be empty' }).optional(),
    tokenFile: z.string().min(1, { error: 'must not be empty' }).optional(),
    grantCaFile: z.string().min(1, { error: 'must not be empty' }).optional(),
    podName: z.string().optional(),
    podNamespace: z.string().optional(),
    oidcConfig: z.string().min(1, { error: 'must not be empty' }).optional(),
    clientAuth: z.enum(['trust', 'scram-sha-256']).optional(),
    clientPasswordFile: z.string().optional(),
    maxConnections: z.coerce.number().int().positive().default(100),
    maxMessageSize: ByteSize.prefault('64MiB'),
    maxCopyDataSize: ByteSize.prefault('1GiB'),
    drainTimeout: Duration.prefault('30s'),
    spoolDir: z.string().min(1, { error: 'must not be empty' }).optional(),
    approvalDir: z.string().min(1, { error: 'must not be empty' }).optional(),
    approvalListen: HostPort.prefault(DEFAULT_APPROVAL_LISTEN),
    logLevel: z.enum(LOG_LEVELS).default('info'),
    logFormat: z.enum(LOG_FORMATS).default('json'),
  })
  .strict();
export type ProxyOptions = z.input<typeof ProxyOptionsSchema>;

export interface ClientAuth {
  /** oidc-token: the client's password is an OIDC token the access source verifies (OIDC mode only). */
  method: 'trust' | 'scram-sha-256' | 'oidc-token';
  password: Secret | null;
}

/** Standalone: one upstream and one policy for every connection. */
export interface StaticAccessConfig {
  mode: 'static';
  upstream: Upstream;
  /** The compiled policy; null with `--policy none`, where every statement is forwarded. */
  policy: CompiledPolicy | null;
}

export interface ProxyConfig {
  listen: { host: string; port: number };
  adminListen: { host: string; port: number } | null;
  /** Where each connection's policy, upstream and credential come from. */
  access: StaticAccessConfig | GrantAccessConfig | OidcAccessConfig;
  clientAuth: ClientAuth;
  maxConnections: number;
  maxMessageBytes: number;
  maxCopyDataBytes: number;
  drainTimeoutMs: number;
  /** Local directory for recording chunks before they ship; set whenever the policy records (grant mode: may record). */
  spoolDir: string | null;
  /** Where approval requests are kept; set whenever the policy has spec.approval (grant mode: optional). */
  approvalDir: string | null;
  /** The approval API's loopback address; used only when the policy has spec.approval. */
  approvalListen: { host: string; port: number };
  logLevel: string;
  logFormat: LogFormat;
}

/** Validates options once and returns a frozen config, or throws ConfigError naming each bad field. */
export function loadProxyConfig(options: ProxyOptions): Readonly<ProxyConfig> {
  const parsed = ProxyOptionsSchema.safeParse(options);
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error.issues));
  const o = parsed.data;
  if (o.grantUrl && o.oidcConfig) {
    throw new ConfigError(
      'oidc-config: OIDC mode (standalone) and grant mode (--grant-url) exclude each other',
    );
  }
  const access = o.grantUrl
    ? loadGrantAccessConfig({ ...o, grantUrl: o.grantUrl })
    : o.oidcConfig
      ? loadOidcAccess(o, o.oidcConfig)
      : loadStaticAccess(o);
  const clientAuth =
    access.mode === 'oidc'
      ? oidcClientAuth(o)
      : resolveClientAuth(o.clientAuth, o.clientPasswordFile, o.listen.host);
  if (!isLoopback(o.approvalListen.host)) {
    throw new ConfigError(
      `approval-listen: the approval API trusts who callers say they are, so it listens on loopback only, not ${o.approvalListen.host}`,
    );
  }
  return Object.freeze({
    listen: o.listen,
    adminListen: o.adminListen === 'off' ? null : o.adminListen,
    access,
    clientAuth,
    maxConnections: o.maxConnections,
    maxMessageBytes: o.maxMessageSize,
    maxCopyDataBytes: Math.max(o.maxCopyDataSize, o.maxMessageSize),
    drainTimeoutMs: o.drainTimeout,
    spoolDir: o.spoolDir ?? null,
    approvalDir: o.approvalDir ?? null,
    approvalListen: o.approvalListen,
    logLevel: o.logLevel,
    logFormat: o.logFormat,
  });
}

function loadStaticAccess(o: z.output<typeof ProxyOptionsSchema>): StaticAccessConfig {
  if (o.upstream === undefined) {
    throw new ConfigError(
      'upstream: is required (a postgresql:// URL), or run in grant mode with --grant-url, --token-file and --grant-ca-file',
    );
  }
  if (o.policy === undefined) {
    throw new ConfigError(
      'policy: is required: a policy file, or "none" to forward every statement unchecked',
    );
  }
  if (o.tokenFile !== undefined || o.grantCaFile !== undefined) {
    throw new ConfigError(
      'grant-url: --token-file and --ca-file are for grant mode, which needs --grant-url (env PGWARDEN_GRANT_URL) instead of --upstream and --policy',
    );
  }
  const upstreamPassword = o.upstreamPasswordFile
    ? readSecretFile(o.upstreamPasswordFile, 'upstream-password-file')
    : undefined;
  const upstream = parseUpstreamUrl(o.upstream, upstreamPassword);
  const policy = o.policy === 'none' ? null : loadCompiledPolicy(o.policy);
  if (policy?.recording && !o.spoolDir) {
    throw new ConfigError(
      `spool-dir: policy "${policy.name}" records sessions (spec.recording), which needs --spool-dir DIR (env PGWARDEN_SPOOL_DIR): a local directory where recording chunks wait until the sink has them`,
    );
  }
  if (policy?.approval && !o.approvalDir) {
    throw new ConfigError(
      `approval-dir: policy "${policy.name}" holds statements for approval (spec.approval), which needs --approval-dir DIR (env PGWARDEN_APPROVAL_DIR): a local directory where approval requests are kept across restarts`,
    );
  }
  return { mode: 'static', upstream, policy };
}

/** OIDC mode: the upstream as in static mode, the policies from the OIDC config's rules. */
function loadOidcAccess(o: z.output<typeof ProxyOptionsSchema>, file: string): OidcAccessConfig {
  if (o.policy !== undefined) {
    throw new ConfigError(
      'policy: in OIDC mode each rule of --oidc-config names its policy; remove --policy (env PGWARDEN_POLICY)',
    );
  }
  if (o.upstream === undefined) throw new ConfigError('upstream: is required (a postgresql:// URL)');
  const upstreamPassword = o.upstreamPasswordFile
    ? readSecretFile(o.upstreamPasswordFile, 'upstream-password-file')
    : undefined;
  return loadOidcAccessConfig(file, parseUpstreamUrl(o.upstream, upstreamPassword), o);
}

/**
 * The client's password is a bearer token, sent in cleartext (the sidecar
 * speaks no TLS to clients): anyone who reads it can connect as that CI job
 * until it expires. So OIDC mode listens on loopback only, and the token is
 * the only client authentication.
 */
function oidcClientAuth(o: z.output<typeof ProxyOptionsSchema>): ClientAuth {
  if (o.clientAuth !== undefined || o.clientPasswordFile !== undefined) {
    throw new ConfigError(
      'client-auth: in OIDC mode the client authenticates with its OIDC token; remove --client-auth and --client-password-file',
    );
  }
  if (!isLoopback(o.listen.host)) {
    throw new ConfigError(
      `listen: OIDC mode listens on loopback only, not ${o.listen.host}: clients send their token in cleartext, and anyone on the path could reuse it until it expires`,
    );
  }
  return { method: 'oidc-token', password: null };
}

/**
 * Trust is only safe where the pod (or host) is the boundary: on loopback. Any
 * other listen address requires SCRAM with a password file.
 */
function resolveClientAuth(
  method: ClientAuth['method'] | undefined,
  passwordFile: string | undefined,
  listenHost: string,
): ClientAuth {
  const chosen = method ?? (passwordFile ? 'scram-sha-256' : 'trust');
  if (chosen === 'trust') {
    if (!isLoopback(listenHost)) {
      throw new ConfigError(
        `client-auth: trust is only allowed on a loopback listen address, not ${listenHost}; set --client-auth scram-sha-256 and --client-password-file`,
      );
    }
    return { method: 'trust', password: null };
  }
  if (!passwordFile) throw new ConfigError('client-auth: scram-sha-256 needs --client-password-file');
  return { method: 'scram-sha-256', password: readSecretFile(passwordFile, 'client-password-file') };
}

function loadCompiledPolicy(path: string): CompiledPolicy {
  try {
    return compilePolicy(loadPolicyFile(path));
  } catch (err) {
    if (err instanceof PolicyCompileError) throw new ConfigError(`policy file ${path}: ${err.message}`);
    throw err;
  }
}

function readSecretFile(path: string, option: string): Secret {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `${option}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  const value = text.replace(/\r?\n$/, '');
  if (value.length === 0) throw new ConfigError(`${option}: ${path} is empty`);
  return new Secret(value);
}
