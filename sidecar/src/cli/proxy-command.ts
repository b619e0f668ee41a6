import { parseArgs } from 'node:util';
import type { ProxyOptions } from '../config/proxy-config.js';

interface OptionSpec {
  key: keyof ProxyOptions;
  flag: string;
  value: string;
  help: string;
  /** The environment variable, when not PGWARDEN_ + the flag. */
  env?: string;
}

/** One table drives the flags, their environment variables and --help. */
export const PROXY_OPTIONS: readonly OptionSpec[] = [
  {
    key: 'listen',
    flag: 'listen',
    value: 'HOST:PORT',
    help: 'Where clients connect (default 127.0.0.1:5432).',
  },
  {
    key: 'upstream',
    flag: 'upstream',
    value: 'URL',
    help: 'postgresql://user:password@host:port/db?sslmode=verify-full&sslrootcert=ca.pem (required standalone). sslmode: disable | prefer | require | verify-ca | verify-full; default prefer on loopback, verify-full elsewhere.',
  },
  {
    key: 'policy',
    flag: 'policy',
    value: 'FILE',
    help: 'AgentAccessPolicy YAML/JSON to enforce (required standalone); "none" forwards every statement unchecked, and says so in the log.',
  },
  {
    key: 'grantUrl',
    flag: 'grant-url',
    value: 'URL',
    help: "Grant mode (instead of --upstream and --policy): the operator's grant API, https://…/v1/grants; the grant gives the policy, the upstream and its credential, and can revoke them.",
  },
  {
    key: 'oidcConfig',
    flag: 'oidc-config',
    value: 'FILE',
    help: 'OIDC mode (standalone, instead of --policy): clients send an OIDC token (e.g. GitHub Actions) as their password; FILE names the issuer, audience and claim rules, each with its policy file. Loopback only.',
  },
  {
    key: 'tokenFile',
    flag: 'token-file',
    value: 'FILE',
    help: 'Grant mode: the projected service-account token (audience pgwarden.io) presented to the grant API; read again for every request.',
  },
  {
    key: 'grantCaFile',
    flag: 'ca-file',
    env: 'PGWARDEN_GRANT_CA_FILE',
    value: 'FILE',
    help: "Grant mode: PEM CA of the operator's certificate; the only CA trusted for the grant API.",
  },
  {
    key: 'podName',
    flag: 'pod-name',
    value: 'NAME',
    help: 'Grant mode: this pod, for logs (the webhook sets it; the grant names the pod that counts).',
  },
  {
    key: 'podNamespace',
    flag: 'pod-namespace',
    value: 'NAMESPACE',
    help: "Grant mode: this pod's namespace, for logs.",
  },
  {
    key: 'upstreamPasswordFile',
    flag: 'upstream-password-file',
    value: 'FILE',
    help: 'Read the upstream password from FILE instead of the URL.',
  },
  {
    key: 'clientAuth',
    flag: 'client-auth',
    value: 'METHOD',
    help: 'trust (default; loopback only) or scram-sha-256.',
  },
  {
    key: 'clientPasswordFile',
    flag: 'client-password-file',
    value: 'FILE',
    help: 'Password clients must present with scram-sha-256; required off loopback.',
  },
  {
    key: 'adminListen',
    flag: 'admin-listen',
    value: 'HOST:PORT',
    help: '/metrics, /healthz, /readyz (default 127.0.0.1:9432; "off" disables).',
  },
  {
    key: 'maxConnections',
    flag: 'max-connections',
    value: 'N',
    help: 'Client connections at once (default 100); more get SQLSTATE 53300.',
  },
  {
    key: 'maxMessageSize',
    flag: 'max-message-size',
    value: 'SIZE',
    help: 'Largest client message (default 64MiB); larger closes the connection with 08P01.',
  },
  {
    key: 'maxCopyDataSize',
    flag: 'max-copy-data-size',
    value: 'SIZE',
    help: 'Largest CopyData message (default 1GiB).',
  },
  {
    key: 'drainTimeout',
    flag: 'drain-timeout',
    value: 'DURATION',
    help: 'On SIGTERM, how long in-flight work may finish (default 30s).',
  },
  {
    key: 'spoolDir',
    flag: 'spool-dir',
    value: 'DIR',
    help: "Local directory where session recordings wait (fsync'd) until the sink has them; required when the policy has spec.recording. One proxy per directory; in Kubernetes an emptyDir or a PVC.",
  },
  {
    key: 'approvalDir',
    flag: 'approval-dir',
    value: 'DIR',
    help: "Local directory where approval requests are kept (one fsync'd JSON file each), so a restart loses none; required when the policy has spec.approval. One proxy per directory.",
  },
  {
    key: 'approvalListen',
    flag: 'approval-listen',
    value: 'HOST:PORT',
    help: 'Loopback address of the approval API that `pgwarden approvals` talks to (default 127.0.0.1:9433); served only when the policy has spec.approval.',
  },
  {
    key: 'logLevel',
    flag: 'log-level',
    value: 'LEVEL',
    help: 'trace | debug | info (default) | warn | error | silent.',
  },
  {
    key: 'logFormat',
    flag: 'log-format',
    value: 'FORMAT',
    help: 'json (default): one JSON event per line; text: one readable line per event (time, level, message, fields), for a terminal. Credentials are redacted in both.',
  },
];

export function envName(option: Pick<OptionSpec, 'flag' | 'env'>): string {
  return option.env ?? `PGWARDEN_${option.flag.toUpperCase().replaceAll('-', '_')}`;
}

/** Flags win over environment variables. */
export function readProxyOptions(argv: string[], env: NodeJS.ProcessEnv): Partial<ProxyOptions> {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(PROXY_OPTIONS.map((o) => [o.flag, { type: 'string' as const }])),
    allowPositionals: false,
    strict: true,
  });
  const options: Record<string, string> = {};
  for (const o of PROXY_OPTIONS) {
    const v = (values[o.flag] as string | undefined) ?? env[envName(o)];
    if (v !== undefined) options[o.key] = v;
  }
  return options as Partial<ProxyOptions>;
}

export function proxyHelp(): string {
  const width = Math.max(...PROXY_OPTIONS.map((o) => o.flag.length + o.value.length + 4));
  const lines = PROXY_OPTIONS.map((o) => {
    const left = `--${o.flag} ${o.value}`.padEnd(width);
    return `  ${left}  ${o.help}\n  ${' '.repeat(width)}  env: ${envName(o)}`;
  });
  return `Usage: pgwarden proxy --upstream URL --policy FILE [options]
       pgwarden proxy --upstream URL --oidc-config FILE [options]
       pgwarden proxy --grant-url URL --token-file FILE --ca-file FILE [options]

Runs the pgwarden Postgres proxy. Clients connect to --listen as to PostgreSQL;
the proxy connects upstream with the configured role and database (the user and
database a client asks for are ignored). Standalone, --upstream and --policy
say where and under which policy; with --oidc-config the policy follows the
claims of the OIDC token each client sends as its password; in grant mode
(Kubernetes) the operator's grant says so, and ending the grant ends every
session.

Options (each may also come from the environment variable shown):
${lines.join('\n')}

Signals: SIGTERM/SIGINT drain (stop accepting, finish in-flight work up to
--drain-timeout, then close).
`;
}
