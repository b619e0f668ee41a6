import { z } from 'zod';
import { API_GROUP, API_VERSION } from './api-group.js';
import { ConditionListSchema } from './conditions.js';
import { DurationSchema } from './duration.js';
import { DnsLabelSchema, DnsSubdomainSchema } from './k8s.js';
import { SslModeSchema, UpstreamEndpointSchema } from './upstream.js';

/**
 * DatabaseConnection, pgwarden.io/v1alpha1: one PostgreSQL database and how the
 * operator reaches it. Agents never see it: the operator reads the credential
 * and hands the sidecar a short-lived grant. Every description feeds
 * `kubectl explain`.
 */

export const DATABASE_CONNECTION_KIND = 'DatabaseConnection';

/** Condition types the operator sets on a DatabaseConnection. */
export const DatabaseConnectionConditions = {
  /** The last probe connected, authenticated and ran `SELECT version()`. */
  Reachable: 'Reachable',
  /** The connection can be used in grants: its configuration is complete and it is reachable. */
  Ready: 'Ready',
} as const;

/** Why a DatabaseConnection is (not) Reachable/Ready; PascalCase, never sentences. */
export const DatabaseConnectionReasons = {
  Connected: 'Connected',
  SecretNotFound: 'SecretNotFound',
  SecretKeyMissing: 'SecretKeyMissing',
  CaSecretNotFound: 'CaSecretNotFound',
  /** The operator runs with --secret-namespaces and this namespace is not listed: it may not read the Secrets here. */
  SecretNamespaceNotAllowed: 'SecretNamespaceNotAllowed',
  AdminPrivilegesMissing: 'AdminPrivilegesMissing',
  MemberRoleNotFound: 'MemberRoleNotFound',
  HostNotFound: 'HostNotFound',
  ConnectionRefused: 'ConnectionRefused',
  Timeout: 'Timeout',
  TlsUnavailable: 'TlsUnavailable',
  TlsVerificationFailed: 'TlsVerificationFailed',
  AuthenticationFailed: 'AuthenticationFailed',
  DatabaseNotFound: 'DatabaseNotFound',
  ProbeFailed: 'ProbeFailed',
  NotReachable: 'NotReachable',
} as const;
export type DatabaseConnectionReason = keyof typeof DatabaseConnectionReasons;

const LocalSecretReferenceSchema = z
  .object({
    name: DnsSubdomainSchema.describe('Name of the Secret, in the DatabaseConnection’s namespace.'),
  })
  .strict();

const TlsSchema = z
  .object({
    mode: SslModeSchema.describe(
      'TLS towards the server, with libpq’s sslmode meanings. disable: plaintext; prefer: TLS when the server offers it, unverified; require: TLS, certificate not verified; verify-ca: TLS, certificate signed by the CA; verify-full: verify-ca and the host name matches the certificate.',
    ),
    caSecretRef: LocalSecretReferenceSchema.extend({
      key: z
        .string()
        .min(1)
        .max(253)
        .default('ca.crt')
        .describe('Key in the Secret holding the PEM CA certificate(s).'),
    })
      .optional()
      .describe(
        'Secret holding the CA certificate(s) that sign the server certificate. Required for verify-ca and verify-full.',
      ),
  })
  .strict()
  .meta({
    'x-kubernetes-validations': [
      {
        rule: "!(self.mode in ['verify-ca', 'verify-full']) || has(self.caSecretRef)",
        message: 'verify-ca and verify-full need caSecretRef (the CA that signs the server certificate)',
        fieldPath: '.caSecretRef',
        reason: 'FieldValueRequired',
      },
    ],
  })
  .superRefine((tls, ctx) => {
    if ((tls.mode === 'verify-ca' || tls.mode === 'verify-full') && tls.caSecretRef === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['caSecretRef'],
        message: 'verify-ca and verify-full need caSecretRef (the CA that signs the server certificate)',
      });
    }
  })
  .describe('TLS towards the database server.');

const StaticCredentialsSchema = z
  .object({
    secretRef: LocalSecretReferenceSchema.describe(
      'Secret holding the role name and password. Only the operator reads it; agent pods never mount it.',
    ),
    usernameKey: z
      .string()
      .min(1)
      .max(253)
      .default('username')
      .describe('Key in the Secret holding the role name.'),
    passwordKey: z
      .string()
      .min(1)
      .max(253)
      .default('password')
      .describe('Key in the Secret holding the password.'),
  })
  .strict()
  .describe('One fixed role whose password is kept in a Secret.');

/** Longest role name PostgreSQL keeps (NAMEDATALEN - 1 bytes). */
export const PG_ROLE_NAME_MAX_BYTES = 63;
/** How dynamic role names start unless rolePrefix says otherwise. */
export const DEFAULT_DYNAMIC_ROLE_PREFIX = 'pgw_';

const RoleNameSchema = z
  .string()
  .min(1)
  .max(PG_ROLE_NAME_MAX_BYTES)
  .refine((name) => new TextEncoder().encode(name).length <= PG_ROLE_NAME_MAX_BYTES, {
    error: `a role name is at most ${PG_ROLE_NAME_MAX_BYTES} bytes`,
  })
  .describe('An existing role, as written in the database (case matters; no quoting needed).');

export const DynamicCredentialsSchema = z
  .object({
    adminSecretRef: LocalSecretReferenceSchema.describe(
      'Secret holding the role the operator connects as to create and drop the per-grant roles. It needs CREATEROLE and, on PostgreSQL 16 and later, ADMIN OPTION on every role in memberOf; it makes itself a member of each role it creates, to end its sessions and take over what it owns when dropping it. Only the operator reads it; agent pods never mount it.',
    ),
    usernameKey: z
      .string()
      .min(1)
      .max(253)
      .default('username')
      .describe('Key in the admin Secret holding the role name.'),
    passwordKey: z
      .string()
      .min(1)
      .max(253)
      .default('password')
      .describe('Key in the admin Secret holding the password.'),
    memberOf: z
      .array(RoleNameSchema)
      .min(1)
      .max(16)
      .meta({ 'x-kubernetes-list-type': 'set' })
      .describe(
        'Roles each per-grant role is a member of (CREATE ROLE … IN ROLE): what an agent may do in the database is what these roles may do, further narrowed by the policy.',
      ),
    connectionLimit: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(10)
      .describe('CONNECTION LIMIT of each per-grant role: how many sessions one pod may hold open at once.'),
    rolePrefix: z
      .string()
      .min(1)
      .max(16)
      .regex(/^[a-z_][a-z0-9_]*$/, {
        error: 'rolePrefix: use lower-case letters, digits and "_", not starting with a digit',
      })
      .refine((prefix) => !prefix.startsWith('pg_'), {
        error: 'rolePrefix cannot start with "pg_", which PostgreSQL reserves',
      })
      .default(DEFAULT_DYNAMIC_ROLE_PREFIX)
      .describe(
        'Start of every per-grant role name. The rest names the namespace, policy and pod; the operator only ever drops roles that start with it and carry its comment.',
      ),
  })
  .strict()
  .meta({
    'x-kubernetes-validations': [
      {
        rule: "!self.rolePrefix.startsWith('pg_')",
        message: 'rolePrefix cannot start with "pg_", which PostgreSQL reserves',
        fieldPath: '.rolePrefix',
      },
    ],
  })
  .describe(
    'A role per grant: the operator creates a LOGIN role with a random password, VALID UNTIL the grant’s expiry, membership in memberOf and a CONNECTION LIMIT, hands it to the sidecar, and drops it (ending its sessions) at revocation or once expired.',
  );
export type DynamicCredentials = z.output<typeof DynamicCredentialsSchema>;

const CredentialsSchema = z
  .object({
    static: StaticCredentialsSchema.optional(),
    dynamic: DynamicCredentialsSchema.optional(),
  })
  .strict()
  .meta({
    'x-kubernetes-validations': [
      {
        rule: 'has(self.static) != has(self.dynamic)',
        message: 'give exactly one of static or dynamic',
      },
    ],
  })
  .superRefine((c, ctx) => {
    if ((c.static === undefined) === (c.dynamic === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of static or dynamic' });
    }
  })
  .describe('How the operator authenticates to the database. Exactly one of static or dynamic.');

export const DatabaseConnectionSpecSchema = z
  .object({
    host: UpstreamEndpointSchema.shape.host,
    port: UpstreamEndpointSchema.shape.port,
    database: z.string().min(1).max(63).describe('Name of the database agents are pinned to.'),
    tls: TlsSchema,
    credentials: CredentialsSchema,
    connectTimeout: DurationSchema.default('10s').describe(
      'How long a probe or a sidecar may take to connect, complete TLS and authenticate, e.g. "10s".',
    ),
    probeInterval: DurationSchema.default('1m').describe(
      'How often the operator probes the database, e.g. "1m". It also probes whenever the spec or a referenced Secret changes.',
    ),
  })
  .strict()
  .describe('Where the database is and how to reach it.');
export type DatabaseConnectionSpec = z.output<typeof DatabaseConnectionSpecSchema>;

export const DatabaseConnectionStatusSchema = z
  .object({
    observedGeneration: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('metadata.generation of the spec the status describes.'),
    conditions: ConditionListSchema.optional(),
    serverVersion: z
      .string()
      .max(64)
      .optional()
      .describe('server_version of the database at the last successful probe, e.g. "17.2".'),
    serverVersionString: z
      .string()
      .max(1024)
      .optional()
      .describe('Result of SELECT version() at the last successful probe.'),
    tls: z.boolean().optional().describe('Whether the last successful probe ran over TLS.'),
  })
  .strict()
  .describe('Written by the operator.');
export type DatabaseConnectionStatus = z.output<typeof DatabaseConnectionStatusSchema>;

/** The DatabaseConnection custom resource as the Kubernetes API holds it. */
export const DatabaseConnectionSchema = z
  .object({
    apiVersion: z.literal(`${API_GROUP}/${API_VERSION}`),
    kind: z.literal(DATABASE_CONNECTION_KIND),
    metadata: z
      .object({ name: DnsSubdomainSchema, namespace: DnsLabelSchema.optional() })
      .loose()
      .describe('Standard Kubernetes object metadata.'),
    spec: DatabaseConnectionSpecSchema,
    status: DatabaseConnectionStatusSchema.optional(),
  })
  .strict();
export type DatabaseConnection = z.output<typeof DatabaseConnectionSchema>;
