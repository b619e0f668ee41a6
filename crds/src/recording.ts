import { z } from 'zod';
import { DurationSchema } from './duration.js';
import { describeValue } from './field-errors.js';
import { StatementKindSchema } from './statement-kinds.js';

/**
 * Session recordings: the events a sidecar records per client session, the
 * chunk header that groups and chains them, and the recording settings of a
 * policy (`spec.recording`). docs/recording.md documents the byte layout; the
 * descriptions below are user documentation.
 */

/** Written in every chunk header; a reader refuses any other value. */
export const RECORDING_FORMAT = 'pgwarden-recording/v1';

/** Safe as a file and object-key segment; sorts by start time when made by the sidecar. */
export const RecordingIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, {
    error: (issue) => `${describeValue(issue.input)} is not a recording id (letters, digits, ".", "_", "-")`,
  })
  .describe('Identifier of one recorded session, e.g. 20260101T120000Z-3f2a9c41d0e7.');

const TimestampSchema = z.iso.datetime().describe('UTC time, ISO 8601 with milliseconds.');
const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/);
const Count = z.number().int().min(0);
const StatementIdSchema = z
  .number()
  .int()
  .positive()
  .describe('Number of the statement in the session, from 1; ties decision, result and rows to it.');
/** A parameter or cell as text (post-mask); null is SQL NULL. */
const CellSchema = z.string().nullable();

const eventBase = {
  seq: Count.describe('Number of the event in the session, from 0, without gaps.'),
  at: TimestampSchema,
};

const RecordedPolicySchema = z.object({ name: z.string().min(1), hash: Sha256Schema }).strict();

export const SessionStartEventSchema = z
  .object({
    ...eventBase,
    type: z.literal('session-start'),
    recordingId: RecordingIdSchema,
    sidecarVersion: z.string().min(1).describe('Version of the sidecar that recorded the session.'),
    pod: z
      .object({ namespace: z.string().min(1), name: z.string().min(1) })
      .strict()
      .nullable()
      .describe('The agent pod (Kubernetes); null for a standalone proxy.'),
    serviceAccount: z
      .string()
      .min(1)
      .nullable()
      .describe('Service account of the agent pod; null standalone.'),
    clientAddress: z.string().nullable().describe('Address and port the client connected from.'),
    clientUser: z.string().nullable().describe('User name the client sent in its startup message.'),
    applicationName: z.string().nullable().describe('application_name from the client’s startup message.'),
    policy: RecordedPolicySchema.describe(
      'The policy in force: its name and the SHA-256 of its compiled form.',
    ),
    upstream: z
      .object({
        host: z.string().min(1),
        port: z.number().int().min(1).max(65535),
        database: z.string().min(1),
        user: z.string().min(1),
      })
      .strict()
      .describe('The upstream server the session was pinned to. Never a credential.'),
    rows: z
      .object({ included: z.boolean(), capPerStatement: Count })
      .strict()
      .describe('Whether result rows are recorded, and how many per statement at most.'),
  })
  .strict();

export const STATEMENT_PROTOCOLS = ['simple', 'extended', 'prepared', 'function-call'] as const;

export const StatementEventSchema = z
  .object({
    ...eventBase,
    type: z.literal('statement'),
    statementId: StatementIdSchema,
    protocol: z
      .enum(STATEMENT_PROTOCOLS)
      .describe(
        'simple: a Query message; extended: Parse+Bind+Execute of an unnamed statement; prepared: Execute of a named prepared statement; function-call: a FunctionCall message.',
      ),
    text: z
      .string()
      .describe('The SQL as sent, credentials (PASSWORD literals, conninfo passwords) redacted.'),
    preparedName: z.string().nullable().describe('Name of the prepared statement; null for the unnamed one.'),
    parameters: z.array(CellSchema).describe('Bind parameters as text, post-mask.'),
  })
  .strict();

export const RecordedFactsSchema = z
  .object({
    kind: StatementKindSchema,
    tablesRead: z.array(z.string()),
    tablesWritten: z.array(z.string()),
    functions: z.array(z.string()),
    locksRows: z.boolean(),
    settings: z
      .array(z.string())
      .describe('Names of the settings the statement changes (never their values).'),
  })
  .strict()
  .describe('What the classifier found in the statement, as the policy engine saw it.');
export type RecordedFacts = z.infer<typeof RecordedFactsSchema>;

export const DecisionEventSchema = z
  .object({
    ...eventBase,
    type: z.literal('decision'),
    statementId: StatementIdSchema,
    outcome: z.enum(['allow', 'deny', 'approve']),
    rule: z.string().min(1).describe('The rule that decided: a policy rule or a built-in rule.'),
    message: z.string().nullable().describe('What the agent was told, for deny and approve.'),
    facts: RecordedFactsSchema.nullable().describe('Null when the statement could not be analysed.'),
  })
  .strict();

export const ResultEventSchema = z
  .object({
    ...eventBase,
    type: z.literal('result'),
    statementId: StatementIdSchema,
    commandTag: z.string().nullable().describe('CommandComplete tag, e.g. "SELECT 3"; null when none came.'),
    rows: Count.describe('Rows returned to the client.'),
    durationMs: z.number().min(0).describe('From the statement reaching the sidecar to its completion.'),
    bytes: Count.describe('Bytes of result data sent to the client.'),
  })
  .strict();

export const RecordedColumnSchema = z
  .object({
    name: z.string(),
    typeOid: Count,
    masked: z.boolean().describe('The sidecar masked this column.'),
  })
  .strict();
export type RecordedColumn = z.infer<typeof RecordedColumnSchema>;

export const RowsEventSchema = z
  .object({
    ...eventBase,
    type: z.literal('rows'),
    statementId: StatementIdSchema,
    columns: z.array(RecordedColumnSchema),
    rows: z.array(z.array(CellSchema)).describe('Rows as the client received them (post-mask), in order.'),
    truncated: z
      .boolean()
      .describe('The result had more rows (or bigger values) than the recording keeps; see omittedRows.'),
    omittedRows: Count.describe('Rows of this result that were sent to the client but not recorded.'),
  })
  .strict();

const messageFields = {
  ...eventBase,
  statementId: StatementIdSchema.nullable().describe('The statement it belongs to; null outside one.'),
  source: z
    .enum(['upstream', 'pgwarden'])
    .describe('upstream: from PostgreSQL; pgwarden: raised by the sidecar.'),
  severity: z.string().min(1),
  code: z
    .string()
    .regex(/^[0-9A-Z]{5}$/)
    .describe('SQLSTATE.'),
  message: z.string(),
  detail: z.string().nullable(),
  hint: z.string().nullable(),
};

export const ErrorEventSchema = z
  .object({ ...messageFields, type: z.literal('error') })
  .strict()
  .describe('An ErrorResponse sent to the client, post-mask.');
export const NoticeEventSchema = z
  .object({ ...messageFields, type: z.literal('notice') })
  .strict()
  .describe('A NoticeResponse sent to the client, post-mask.');

export const APPROVAL_PHASES = [
  'requested',
  'approved',
  'denied',
  'expired',
  'timed-out',
  'withdrawn',
] as const;

export const ApprovalEventSchema = z
  .object({
    ...eventBase,
    type: z.literal('approval'),
    statementId: StatementIdSchema,
    phase: z.enum(APPROVAL_PHASES),
    request: z.string().nullable().describe('Name of the QueryApproval object.'),
    approver: z.string().nullable().describe('Who approved or denied.'),
    reason: z.string().nullable(),
  })
  .strict();

export const PolicyChangeEventSchema = z
  .object({
    ...eventBase,
    type: z.literal('policy-change'),
    policy: RecordedPolicySchema.describe(
      'The policy the session continues under: its name and the SHA-256 of its compiled form.',
    ),
  })
  .strict()
  .describe(
    'The session moved to another policy (grant mode, at an idle point); the decisions after this event were made under it.',
  );

export const GapEventSchema = z
  .object({
    ...eventBase,
    type: z.literal('gap'),
    dropped: z.number().int().positive().describe('Events that were not recorded.'),
    reason: z
      .enum(['spool-full', 'overload'])
      .describe(
        'spool-full: the spool was full and failClosed was off; overload: events came faster than the spool could take them.',
      ),
  })
  .strict()
  .describe('Events were lost here. Only with failClosed off; with it on, statements are refused instead.');

export const SESSION_END_REASONS = [
  'client-closed',
  'upstream-closed',
  'terminated',
  'shutdown',
  'error',
  'interrupted',
] as const;
export type SessionEndReason = (typeof SESSION_END_REASONS)[number];

export const SessionTotalsSchema = z
  .object({
    statements: Count,
    denied: Count,
    rows: Count.describe('Rows returned to the client, over all results.'),
    errors: Count,
  })
  .strict();
export type SessionTotals = z.infer<typeof SessionTotalsSchema>;

export const SessionEndEventSchema = z
  .object({
    ...eventBase,
    type: z.literal('session-end'),
    reason: z
      .enum(SESSION_END_REASONS)
      .describe(
        'interrupted: the sidecar died without sealing; the next start sealed it from what had reached the spool.',
      ),
    message: z.string().nullable(),
    totals: SessionTotalsSchema.describe('Counted over the recorded events.'),
  })
  .strict();

export const RecordingEventSchema = z.discriminatedUnion('type', [
  SessionStartEventSchema,
  StatementEventSchema,
  DecisionEventSchema,
  ResultEventSchema,
  RowsEventSchema,
  ErrorEventSchema,
  NoticeEventSchema,
  ApprovalEventSchema,
  PolicyChangeEventSchema,
  GapEventSchema,
  SessionEndEventSchema,
]);
export type RecordingEvent = z.infer<typeof RecordingEventSchema>;
export type RecordingEventType = RecordingEvent['type'];

/** The first line of every chunk. */
export const ChunkHeaderSchema = z
  .object({
    type: z.literal('chunk'),
    format: z.literal(RECORDING_FORMAT),
    recordingId: RecordingIdSchema,
    seq: Count.describe('Number of the chunk in the recording, from 0, without gaps.'),
    firstEvent: Count.describe('seq of the chunk’s first event.'),
    events: z.number().int().positive().describe('Number of event lines after the header.'),
    firstAt: TimestampSchema,
    lastAt: TimestampSchema,
    prevSha256: Sha256Schema.nullable().describe(
      'SHA-256 (hex) of the previous chunk’s bytes as stored (compressed); null in chunk 0.',
    ),
    final: z.boolean().describe('This chunk seals the recording: it ends with the session-end event.'),
  })
  .strict();
export type ChunkHeader = z.infer<typeof ChunkHeaderSchema>;

/** "512Mi", "1Gi", "64Ki", or a plain number of bytes. Kept as text so it reads as written. */
const BYTE_SIZE = /^([1-9][0-9]*)(Ki|Mi|Gi)?$/;
const BYTE_UNITS: Readonly<Record<string, number>> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };

/** "64Mi" → 67108864; null when the text is not a byte size. */
export function parseByteSize(text: string): number | null {
  const m = BYTE_SIZE.exec(text);
  if (!m) return null;
  return Number(m[1]) * (BYTE_UNITS[m[2] ?? ''] as number);
}

export const ByteSizeSchema = z.string().regex(BYTE_SIZE, {
  error: (issue) =>
    `${describeValue(issue.input)} is not a size; use a whole number of bytes, optionally with Ki, Mi or Gi, e.g. 512Mi`,
});

const EnvVarNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/);

const DirSinkSchema = z
  .object({
    type: z.literal('dir').describe('dir: a directory; s3: an S3-compatible bucket.'),
    path: z
      .string()
      .startsWith('/', { error: 'must be an absolute path' })
      .describe(
        'Directory the recordings are moved into, e.g. a mounted PersistentVolumeClaim; one sub-directory per recording.',
      ),
  })
  .strict()
  .describe('Write recordings to a directory (atomic rename into place).');

const S3SinkSchema = z
  .object({
    type: z.literal('s3').describe('dir: a directory; s3: an S3-compatible bucket.'),
    bucket: z.string().min(3).max(63).describe('Bucket name; the bucket must exist.'),
    prefix: z
      .string()
      .regex(/^$|^[^/].*\/$/, { error: 'must be empty or end with "/" (and not start with one)' })
      .default('')
      .describe('Key prefix, e.g. "recordings/prod/"; recordings are stored under <prefix><recordingId>/.'),
    region: z.string().min(1).default('us-east-1').describe('Region used to sign requests.'),
    endpoint: z
      .url({
        protocol: /^https?$/,
        error: (issue) => `${describeValue(issue.input)} is not an http:// or https:// URL`,
      })
      .optional()
      .describe('Endpoint of an S3-compatible store, e.g. https://minio.storage:9000. Omitted: AWS S3.'),
    pathStyle: z
      .boolean()
      .default(false)
      .describe(
        'Address the bucket in the path (https://host/bucket/key), as most S3-compatible stores need.',
      ),
    credentials: z
      .object({
        accessKeyIdEnv: EnvVarNameSchema.default('AWS_ACCESS_KEY_ID').describe(
          'Environment variable holding the access key id (filled from a Secret).',
        ),
        secretAccessKeyEnv: EnvVarNameSchema.default('AWS_SECRET_ACCESS_KEY').describe(
          'Environment variable holding the secret access key (filled from a Secret).',
        ),
        sessionTokenEnv: EnvVarNameSchema.optional().describe(
          'Environment variable holding a session token, for temporary credentials.',
        ),
      })
      .strict()
      .default({ accessKeyIdEnv: 'AWS_ACCESS_KEY_ID', secretAccessKeyEnv: 'AWS_SECRET_ACCESS_KEY' })
      .describe(
        'Names of the environment variables with the credentials; the policy never holds the values.',
      ),
    multipartThreshold: ByteSizeSchema.default('8Mi').describe(
      'Chunks at least this large are uploaded in parts (multipart upload).',
    ),
    partSize: ByteSizeSchema.default('8Mi')
      .refine((s) => (parseByteSize(s) ?? 0) >= 5 * 1024 ** 2, {
        error: 'must be at least 5Mi (an S3 limit)',
      })
      .describe('Size of each part of a multipart upload; at least 5Mi.'),
  })
  .strict()
  .describe('Upload recordings to an S3-compatible bucket.');

export const RecordingSinkSchema = z
  .discriminatedUnion('type', [DirSinkSchema, S3SinkSchema])
  .describe('Where finished chunks go. A chunk leaves the local spool only after the sink confirmed it.');
export type RecordingSink = z.output<typeof RecordingSinkSchema>;

export const RecordingSettingsSchema = z
  .object({
    sink: RecordingSinkSchema,
    includeRows: z
      .boolean()
      .default(true)
      .describe(
        'Record result rows (post-mask) up to rowCapPerStatement; false records only result summaries.',
      ),
    rowCapPerStatement: z
      .number()
      .int()
      .min(0)
      .max(100_000)
      .default(100)
      .describe(
        'Most rows recorded per result; further rows are counted and the result is marked truncated.',
      ),
    rowBytesPerStatement: ByteSizeSchema.default('1Mi').describe(
      'Most bytes of row values recorded per result; bounds the sidecar’s memory per session.',
    ),
    spoolCap: ByteSizeSchema.default('1Gi').describe(
      'Most bytes of chunks the local spool holds before the sink took them. When full, new statements are refused with SQLSTATE 53100 until it drains (see failClosed).',
    ),
    chunkSize: ByteSizeSchema.default('1Mi').describe(
      'A chunk is cut when its events reach this many bytes (uncompressed), or after flushInterval.',
    ),
    flushInterval: DurationSchema.default('1s').describe(
      'Longest time an event waits in memory before it is written to the spool and fsync’d: what a crash of the sidecar can lose.',
    ),
    failClosed: z
      .boolean()
      .default(true)
      .describe(
        'true (default): refuse statements while the recording cannot keep up (spool full, disk errors). false: let them run and mark the lost events as a gap in the recording.',
      ),
  })
  .strict()
  .describe(
    'Session recording: every session becomes a tamper-evident recording (docs/recording.md). Omitted: sessions are not recorded.',
  );
export type RecordingSettingsInput = z.input<typeof RecordingSettingsSchema>;
export type RecordingSettings = z.output<typeof RecordingSettingsSchema>;
