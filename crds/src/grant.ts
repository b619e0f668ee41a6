import { z } from 'zod';
import { API_GROUP, API_VERSION } from './api-group.js';
import { CompiledPolicySchema } from './compiled-policy.js';
import { SslModeSchema } from './upstream.js';

/**
 * The grant API between a sidecar and the operator (design §4). The sidecar
 * presents its projected service-account token (audience pgwarden.io) and
 * receives what it needs to serve its pod: the compiled policy, where the
 * database is, a credential and an expiry. These shapes cross a process
 * boundary, so both ends parse them with these schemas.
 *
 *   POST {grantUrl}   Authorization: Bearer <projected token>
 *   body: GrantRequest (may be empty: {})
 *   200 Grant | 401/403/404 GrantRefusal | 429 GrantRefusal (Retry-After) | 503 GrantRefusal
 *
 * Long poll: with `knownVersion` equal to the version the operator would
 * answer, the operator holds the request until that version changes, the
 * grant is refused (revocation: answered at once), or `waitSeconds` pass; then
 * it answers as usual. A sidecar keeps one such request open, so a policy edit
 * or a revocation reaches it in about a second instead of at the next refresh.
 */

/** The path of the grant API on the operator's HTTPS listener. */
export const GRANT_API_PATH = '/v1/grants';
/** The audience a projected token must carry for the grant API. */
export const GRANT_TOKEN_AUDIENCE = 'pgwarden.io';
/** Longest hold of a long poll; the operator caps waitSeconds here. */
export const GRANT_MAX_WAIT_SECONDS = 60;

const TimestampSchema = z.iso.datetime().describe('UTC time, ISO 8601 with milliseconds.');
const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/);

export const GrantRequestSchema = z
  .object({
    knownVersion: Sha256Schema.nullable()
      .default(null)
      .describe(
        'Grant.version the sidecar holds; with waitSeconds > 0 the operator answers once it differs.',
      ),
    waitSeconds: z
      .number()
      .int()
      .min(0)
      .max(GRANT_MAX_WAIT_SECONDS)
      .default(0)
      .describe('How long the operator may hold the request while the version is unchanged.'),
  })
  .strict();
export type GrantRequest = z.output<typeof GrantRequestSchema>;

export const GrantSubjectSchema = z
  .object({
    namespace: z.string().min(1),
    pod: z.string().min(1),
    podUid: z.string().min(1),
    serviceAccount: z.string().min(1),
  })
  .strict()
  .describe('The pod the token is bound to, as the TokenReview established it.');
export type GrantSubject = z.output<typeof GrantSubjectSchema>;

export const GrantUpstreamSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    database: z.string().min(1),
    sslMode: SslModeSchema,
    caPem: z
      .string()
      .nullable()
      .describe('PEM CA certificate(s) for verify-ca / verify-full; null: none configured.'),
    connectTimeoutMs: z.number().int().positive(),
  })
  .strict()
  .describe('Where the sidecar connects: the DatabaseConnection the policy names.');
export type GrantUpstream = z.output<typeof GrantUpstreamSchema>;

export const GrantCredentialSchema = z
  .object({
    type: z
      .enum(['static', 'dynamic'])
      .describe(
        'static: the role of the DatabaseConnection Secret; dynamic: a role the operator made for this grant.',
      ),
    user: z.string().min(1),
    password: z.string().min(1).describe('Never logged, recorded or shown.'),
    validUntil: TimestampSchema.nullable().describe('dynamic: the role’s VALID UNTIL; static: null.'),
  })
  .strict();
export type GrantCredential = z.output<typeof GrantCredentialSchema>;

export const GrantSchema = z
  .object({
    apiVersion: z.literal(`${API_GROUP}/${API_VERSION}`),
    kind: z.literal('Grant'),
    id: z.string().min(1).describe('Identifier of this issuance, for audit logs on both sides.'),
    version: Sha256Schema.describe(
      'Changes whenever what the sidecar enforces or where it connects changes (policy hash, connection, credential user); the long-poll key.',
    ),
    subject: GrantSubjectSchema,
    policyRef: z
      .object({ namespace: z.string().min(1), name: z.string().min(1) })
      .strict()
      .describe('The AgentAccessPolicy that binds the pod.'),
    policy: CompiledPolicySchema,
    connectionRef: z.object({ namespace: z.string().min(1), name: z.string().min(1) }).strict(),
    upstream: GrantUpstreamSchema,
    credential: GrantCredentialSchema,
    issuedAt: TimestampSchema,
    expiresAt: TimestampSchema.describe(
      'After this the sidecar refuses new statements unless it holds a newer grant.',
    ),
    refreshAt: TimestampSchema.describe(
      'When the sidecar should fetch a new grant (about half the lifetime).',
    ),
  })
  .strict();
export type Grant = z.output<typeof GrantSchema>;

export const GRANT_REFUSAL_REASONS = [
  /** 401: the TokenReview did not authenticate the token (malformed, expired, unknown signer). */
  'invalid-token',
  /** 401: authenticated, but not for the pgwarden.io audience. */
  'wrong-audience',
  /** 403: the token is not bound to a pod (no pod-name/pod-uid in the review's extra). */
  'not-bound-to-pod',
  /** 403: the bound pod no longer exists, or its uid differs (re-created), or it is being deleted. */
  'pod-gone',
  /** 403: something besides the injected, unmodified proxy could hold the pod's token or read its memory (another container mounts it, a shared process namespace, a changed proxy container). */
  'token-exposed',
  /** 403: no AgentAccessPolicy in the pod's namespace binds the pod. */
  'no-policy',
  /** 403: more than one policy binds the pod; pgwarden does not guess which one governs. */
  'multiple-policies',
  /** 403: the binding policy does not validate or compile. */
  'policy-invalid',
  /** 403: the policy names a DatabaseConnection that is missing or invalid, or whose credential cannot be read or made. */
  'connection-unavailable',
  /** 429: too many grant requests from this pod. */
  'rate-limited',
  /** 503: the operator cannot decide now (API server unreachable); a sidecar keeps its unexpired grant. */
  'unavailable',
] as const;
export type GrantRefusalReason = (typeof GRANT_REFUSAL_REASONS)[number];

/** Refusals that end access: a sidecar holding a grant terminates its sessions on them. */
export const REVOKING_GRANT_REFUSALS: readonly GrantRefusalReason[] = [
  'invalid-token',
  'wrong-audience',
  'not-bound-to-pod',
  'pod-gone',
  'token-exposed',
  'no-policy',
  'multiple-policies',
  'policy-invalid',
];

export const GrantRefusalSchema = z
  .object({
    reason: z.enum(GRANT_REFUSAL_REASONS),
    message: z
      .string()
      .min(1)
      .describe('For people: what was refused and what to do, naming the policy or object; never a secret.'),
    retryAfterSeconds: z.number().int().min(0).nullable().default(null),
  })
  .strict();
export type GrantRefusal = z.output<typeof GrantRefusalSchema>;
