import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import {
  deepFreeze,
  type FieldError,
  fieldErrorMap,
  formatFieldError,
  parseDurationMs,
  toFieldErrors,
} from '@pgwarden/crds';
import { z } from 'zod';

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

const listen = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const match = /^(.*):(\d{1,5})$/.exec(text);
      const port = Number(match?.[2]);
      if (!match?.[1] || port > 65535) {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(text)} is not HOST:PORT` });
        return z.NEVER;
      }
      return { host: match[1].replace(/^\[(.*)\]$/, '$1'), port };
    });

const flag = z.enum(['true', 'false']).transform((v) => v === 'true');

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
    namespace: z
      .string()
      .min(1)
      .default(process.env.POD_NAMESPACE ?? 'pgwarden-system')
      .describe(
        "The operator's own namespace (its Lease lives there); default POD_NAMESPACE or pgwarden-system.",
      ),
    identity: z
      .string()
      .min(1)
      .default(`${process.env.HOSTNAME ?? hostname()}_${randomUUID().slice(0, 8)}`)
      .describe('This replica in the Lease; default the host name and a random suffix.'),
    adminListen: listen('0.0.0.0:8080').describe('/metrics, /healthz and /readyz (default 0.0.0.0:8080).'),
    leaderElect: flag
      .default(true)
      .describe('true (default): only the replica holding the Lease reconciles.'),
    leaseName: z
      .string()
      .min(1)
      .default('pgwarden-operator')
      .describe('Name of the Lease (default pgwarden-operator).'),
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
    logLevel: z
      .enum(['trace', 'debug', 'info', 'warn', 'error', 'silent'])
      .default('info')
      .describe('trace | debug | info (default) | warn | error | silent.'),
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
    if (c.retryPeriod >= c.renewDeadline) {
      ctx.addIssue({
        code: 'custom',
        path: ['retryPeriod'],
        message: 'must be shorter than --renew-deadline',
      });
    }
  });
export type OperatorConfig = Readonly<z.output<typeof OperatorConfigSchema>>;

const keys = Object.keys(OperatorConfigSchema.shape) as (keyof typeof OperatorConfigSchema.shape)[];

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
  const lines = keys.map((key) => {
    const description = OperatorConfigSchema.shape[key].description ?? '';
    return `  --${flagName(key).padEnd(18)} ${envName(key).padEnd(36)} ${description}`;
  });
  return `Usage: pgwarden-operator [options]\n\nOptions (flag, environment variable):\n${lines.join('\n')}\n`;
}
