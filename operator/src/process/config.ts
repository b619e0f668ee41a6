import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import {
  DnsSubdomainSchema,
  deepFreeze,
  type FieldError,
  fieldErrorMap,
  formatFieldError,
  GRANT_API_PATH,
  LOG_FORMATS,
  LOG_LEVELS,
  parseDurationMs,
  toFieldErrors,
} from '@pgwarden/crds';
import { z } from 'zod';
import { quantityValue } from '../kube/quantity.js';

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDurationMs(text);
      if (ms === null || ms <= 0) {
        ctx.addIssue({
          code: 'custom',
          message: `${JSON.stringify(text)} is not a duration such as 500ms, 15s or 2m`,
        });
        return z.NEVER;
      }
      return ms;
    });

/** "HOST:PORT" → { host, port }; IPv6 hosts in brackets. */
function parseListen(text: string): { host: string; port: number } | undefined {
  const match = /^(.*):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (!match?.[1] || port > 65535) return undefined;
  return { host: match[1].replace(/^\[(.*)\]$/, '$1'), port };
}

const listen = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => parseListen(text) ?? notListen(text, ctx));

/** Like listen, or "off": null. */
const listenOrOff = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => (text === 'off' ? null : (parseListen(text) ?? notListen(text, ctx))));

function notListen(text: string, ctx: z.RefinementCtx): never {
  ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)} is not HOST:PORT` });
  return z.NEVER;
}

/** A whole number ≥ 1 with a default. */
const positiveInt = (fallback: number) =>
  z
    .string()
    .default(String(fallback))
    .transform((text, ctx) => {
      const value = Number(text);
      if (!/^\d+$/.test(text) || value < 1) {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)} is not a whole number ≥ 1` });
        return z.NEVER;
      }
      return value;
    });

/** A non-empty string with a default. */
const text = (fallback: string) => z.string().min(1).default(fallback);

const flag = z.enum(['true', 'false']).transform((v) => v === 'true');

const list = z.string().transform((text) =>
  text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== ''),
);

const Quantities = z.partialRecord(
  z.enum(['cpu', 'memory', 'ephemeral-storage']),
  z.string().regex(/^[0-9.]+[a-zA-Z]*$/),
);
/** A Kubernetes quantity above 0. */
const quantity = (fallback: string) =>
  z
    .string()
    .refine((text) => (quantityValue(text) ?? 0) > 0, {
      error: (issue) =>
        `${JSON.stringify(issue.input)} is not a Kubernetes quantity above 0 such as 1536Mi or 2Gi`,
    })
    .default(fallback);

const logFormat = z.enum(LOG_FORMATS).default('json');

const ResourcesSchema = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not JSON' });
      return z.NEVER;
    }
  })
  .pipe(z.object({ requests: Quantities.optional(), limits: Quantities.optional() }).strict());

/**
 * Every setting of the operator process: a flag --x-y, or the environment
 * variable PGWARDEN_OPERATOR_X_Y (the flag wins). The descriptions are --help.
 */
export const OperatorConfigSchema = z
  .object({
    kubeconfig: z
      .string()
      .optional()
      .describe('Kubeconfig file; default KUBECONFIG, else the in-cluster service account.'),
    namespace: text(process.env.POD_NAMESPACE ?? 'pgwarden-system').describe(
      "The operator's own namespace (its Lease lives there); default POD_NAMESPACE or pgwarden-system.",
    ),
    identity: text(`${process.env.HOSTNAME ?? hostname()}_${randomUUID().slice(0, 8)}`).describe(
      'This replica in the Lease; default the host name and a random suffix.',
    ),
    adminListen: listen('0.0.0.0:8080').describe('/metrics, /healthz and /readyz (default 0.0.0.0:8080).'),
    leaderElect: flag
      .default(true)
      .describe('true (default): only the replica holding the Lease reconciles.'),
    leaseName: text('pgwarden-operator').describe('Name of the Lease (default pgwarden-operator).'),
    leaseDuration: duration('15s').describe(
      'How long a standby waits before it takes an unrenewed Lease (default 15s).',
    ),
    renewDeadline: duration('10s').describe(
      'The leader stops reconciling when it could not renew for this long (default 10s).',
    ),
    retryPeriod: duration('2s').describe('Between two attempts to acquire or renew the Lease (default 2s).'),
    resync: duration('10m').describe(
      'Every how often each object is reconciled without a change (default 10m).',
    ),
    shutdownTimeout: duration('30s').describe(
      'How long SIGTERM waits for running passes before exiting (default 30s).',
    ),
    webhookListen: listenOrOff('0.0.0.0:9443').describe(
      'HTTPS listener of the pod webhook (default 0.0.0.0:9443); "off" disables the webhook.',
    ),
    webhookConfigName: text('pgwarden-operator').describe(
      'MutatingWebhookConfiguration whose caBundle the operator keeps current (default pgwarden-operator).',
    ),
    webhookSecret: text('pgwarden-webhook-tls').describe(
      'Secret in --namespace holding the webhook CA and serving certificate (default pgwarden-webhook-tls).',
    ),
    webhookCertMode: z
      .enum(['self', 'external'])
      .default('self')
      .describe(
        "self (default): the operator issues and rotates the webhook CA and certificate in --webhook-secret and keeps the caBundle current; external: someone else (cert-manager) writes tls.crt, tls.key and ca.crt there, the operator only reads, serves and reloads them, uses ca.crt as the sidecars' grant CA, and leaves the caBundle alone (cainjector fills it).",
      ),
    webhookHosts: list
      .optional()
      .describe(
        'Comma-separated DNS names and IPs the serving certificate names; default pgwarden-operator.<namespace>.svc.',
      ),
    webhookCertValidity: duration('8760h').describe(
      'Lifetime of a serving certificate the operator issues (default 8760h, a year; --webhook-cert-mode self).',
    ),
    webhookRenewBefore: duration('720h').describe(
      'Rotate certificates this long before they expire (default 720h; --webhook-cert-mode self).',
    ),
    webhookCheckInterval: duration('5m').describe(
      'Every how often certificates and the caBundle are checked and repaired, or (external) the Secret re-read besides its watch (default 5m).',
    ),
    sidecarImage: text('ghcr.io/pgwarden/sidecar:0.1.0').describe('Image of the injected pgwarden sidecar.'),
    sidecarMode: z
      .enum(['auto', 'native', 'container'])
      .default('auto')
      .describe(
        'native: init container with restartPolicy Always; container: regular container; auto (default): native from Kubernetes 1.29.',
      ),
    sidecarResources: ResourcesSchema.default({
      requests: { cpu: '50m', memory: '160Mi' },
      limits: { memory: '512Mi' },
    }).describe(
      'The sidecar\'s resources as JSON (default {"requests":{"cpu":"50m","memory":"160Mi"},"limits":{"memory":"512Mi"}}; a proxy with a policy idles at ~105 MiB and a recording one reached ~340 MiB at ~9k statements/s).',
    ),
    sidecarImagePullPolicy: z
      .enum(['Always', 'IfNotPresent', 'Never'])
      .optional()
      .describe(
        "Always | IfNotPresent | Never for the sidecar container; omitted: Kubernetes' default (Always for a :latest or untagged image, else IfNotPresent).",
      ),
    sidecarImagePullSecrets: list
      .default([])
      .describe(
        "Comma-separated Secrets (in the pod's namespace) to pull the sidecar image with; added to each injected pod's imagePullSecrets unless already there.",
      ),
    sidecarSpoolSizeLimit: quantity('1536Mi').describe(
      "sizeLimit of the sidecar's spool emptyDir (default 1536Mi). Above the policies' spoolCap (default 1Gi), so the proxy's own cap is reached first (statements refused with 53100, the recording intact) and never the kubelet's limit (the pod evicted); the margin is for the chunks being written when the cap is hit (up to chunkSize, 1Mi, per open session). Raise it with a policy whose spoolCap is larger.",
    ),
    sidecarRecordingSecret: DnsSubdomainSchema.optional().describe(
      "Secret (in the pod's namespace) with the s3 recording sink's credentials: its keys AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and optional AWS_SESSION_TOKEN) become the sidecar's variables of the same names, no other key; not optional: a pod whose namespace lacks it does not start. Pod annotation pgwarden.io/recording-secret overrides it (empty: none). Omitted: none.",
    ),
    sidecarRecordingClaim: DnsSubdomainSchema.optional().describe(
      "PersistentVolumeClaim (in the pod's namespace) mounted into the sidecar at /var/lib/pgwarden/recordings, for a dir recording sink with that path. Pod annotation pgwarden.io/recording-claim overrides it (empty: none). Omitted: none.",
    ),
    sidecarLogLevel: z
      .enum(LOG_LEVELS)
      .default('info')
      .describe("The sidecar's --log-level: trace | debug | info (default) | warn | error | fatal | silent."),
    sidecarLogFormat: logFormat.describe(
      "The sidecar's --log-format: json (default, one JSON event per line) | text (one readable line per event).",
    ),
    sidecarGrantUrl: z
      .url()
      .optional()
      .describe(
        "The operator's grant endpoint as sidecars reach it; default https://pgwarden-operator.<namespace>.svc/v1/grants (the Service's port 443).",
      ),
    grantTtl: duration('10m').describe(
      'Lifetime of a grant; sidecars refresh at half of it and fail closed once it passes without a new one (default 10m).',
    ),
    grantRateLimit: positiveInt(60).describe(
      'Grant requests per minute one pod may make once its burst is spent (default 60); held long polls do not count.',
    ),
    grantRateBurst: positiveInt(10).describe('Grant requests one pod may make at once (default 10).'),
    approvalRetention: duration('168h').describe(
      'How long a QueryApproval is kept once nothing can happen to it any more (decided or expired, and past its expiresAt and validUntil); the leader deletes it then (default 168h).',
    ),
    notifications: z
      .string()
      .min(1)
      .optional()
      .describe(
        'File (YAML or JSON, e.g. a mounted ConfigMap) with the approval notification channels: webhook, Slack (docs/approval-notifications.md); omitted: none.',
      ),
    secretNamespaces: list
      .pipe(
        z.array(
          z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, {
            error: (issue) => `${JSON.stringify(issue.input)} is not a namespace name`,
          }),
        ),
      )
      .default([])
      .describe(
        'Comma-separated namespaces whose Secrets the operator may read (DatabaseConnections elsewhere are refused, naming this flag); omitted: every namespace. Its RBAC must match: a Role per namespace instead of the cluster-wide read.',
      ),
    logLevel: z
      .enum(['trace', 'debug', 'info', 'warn', 'error', 'silent'])
      .default('info')
      .describe('trace | debug | info (default) | warn | error | silent.'),
    logFormat: logFormat.describe(
      'json (default): one JSON event per line; text: one readable line per event (time, level, message, fields), for a terminal.',
    ),
  })
  .strict()
  .superRefine((c, ctx) => {
    // client-go's rule: the leader must give up before a standby may take over.
    if (c.renewDeadline >= c.leaseDuration) {
      ctx.addIssue({
        code: 'custom',
        path: ['renewDeadline'],
        message: 'must be shorter than --lease-duration',
      });
    }
    if (c.webhookRenewBefore >= c.webhookCertValidity) {
      // Every check would issue a new certificate.
      ctx.addIssue({
        code: 'custom',
        path: ['webhookRenewBefore'],
        message: 'must be shorter than --webhook-cert-validity',
      });
    }
    if (c.retryPeriod >= c.renewDeadline) {
      ctx.addIssue({
        code: 'custom',
        path: ['retryPeriod'],
        message: 'must be shorter than --renew-deadline',
      });
    }
  })
  .transform((c) => ({
    ...c,
    webhookHosts: c.webhookHosts ?? [`pgwarden-operator.${c.namespace}.svc`],
    sidecarGrantUrl: c.sidecarGrantUrl ?? `https://pgwarden-operator.${c.namespace}.svc${GRANT_API_PATH}`,
  }));
export type OperatorConfig = Readonly<z.output<typeof OperatorConfigSchema>>;

const shape = OperatorConfigSchema.in.shape;
const keys = Object.keys(shape) as (keyof typeof shape)[];

export const flagName = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const envName = (key: string) =>
  `PGWARDEN_OPERATOR_${flagName(key).toUpperCase().replaceAll('-', '_')}`;

export class ConfigError extends Error {
  override name = 'ConfigError';

  constructor(readonly errors: readonly FieldError[]) {
    super(`invalid configuration: ${errors.map(formatFieldError).join('; ')}`);
  }
}

/** Validates flags and environment once, against one schema; the result is frozen. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): OperatorConfig {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: Object.fromEntries(keys.map((k) => [flagName(k), { type: 'string' as const }])),
      allowPositionals: false,
      strict: true,
    }));
  } catch (error) {
    throw new ConfigError([{ path: '', segments: [], message: (error as Error).message }]);
  }
  const raw: Record<string, string> = {};
  for (const key of keys) {
    const value = values[flagName(key)] ?? env[envName(key)];
    if (value !== undefined) raw[key] = value;
  }
  const result = OperatorConfigSchema.safeParse(raw, { error: fieldErrorMap });
  if (!result.success) {
    // Name the flag, which is how the user wrote it.
    throw new ConfigError(
      toFieldErrors(result.error.issues).map((e) => ({ ...e, path: e.path && `--${flagName(e.path)}` })),
    );
  }
  return deepFreeze(result.data);
}

export function usage(): string {
  const flagWidth = Math.max(...keys.map((key) => flagName(key).length));
  const envWidth = Math.max(...keys.map((key) => envName(key).length));
  const lines = keys.map((key) => {
    const description = shape[key].description ?? '';
    return `  --${flagName(key).padEnd(flagWidth)} ${envName(key).padEnd(envWidth)} ${description}`;
  });
  return `Usage: pgwarden-operator [options]\n\nOptions (flag, environment variable):\n${lines.join('\n')}\n`;
}
