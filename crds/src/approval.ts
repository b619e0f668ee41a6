import { z } from 'zod';
import { DurationSchema, parseDurationMs } from './duration.js';
import { describeValue } from './field-errors.js';

/**
 * Per-statement human approval: the policy's settings (`spec.approval`) and
 * the approval request a held statement becomes. The standalone sidecar keeps
 * requests as JSON files; in Kubernetes the same request is the spec of a
 * QueryApproval object and the same status its status. The descriptions below
 * are user documentation.
 */

export const APPROVAL_SCOPES = ['once', 'session', 'fingerprint'] as const;
export type ApprovalScopeType = (typeof APPROVAL_SCOPES)[number];

export const WAIT_MODES = ['wait', 'fail'] as const;

const UserNameSchema = z.string().min(1).max(253);

export const ApproversSchema = z
  .object({
    users: z
      .array(UserNameSchema)
      .min(1)
      .optional()
      .describe(
        'User names allowed to approve or deny: Kubernetes users, or OS user names (or --as names) for the standalone approval API. Omitted: any user the API lets in.',
      ),
    groups: z
      .array(UserNameSchema)
      .min(1)
      .optional()
      .describe(
        'Kubernetes groups whose members may approve or deny. The standalone approval API has no groups: there only users counts.',
      ),
  })
  .strict()
  .describe(
    'Who may decide. The requester itself never may (self-approval is refused), whatever these lists say.',
  );

const SCOPE_TYPE_DESCRIPTION =
  'once: the approval runs exactly the statement text and parameters shown, once; session: it covers the same statement (by fingerprint, any values) for the rest of the client session that asked; fingerprint: it covers every statement with the same fingerprint, in any session, for duration.';

const ScopeSchema = z
  .discriminatedUnion(
    'type',
    [
      z.object({ type: z.literal('once').describe(SCOPE_TYPE_DESCRIPTION) }).strict(),
      z.object({ type: z.literal('session').describe(SCOPE_TYPE_DESCRIPTION) }).strict(),
      z
        .object({
          type: z.literal('fingerprint').describe(SCOPE_TYPE_DESCRIPTION),
          duration: DurationSchema.default('1h').describe(
            'How long after the decision the approval covers the fingerprint.',
          ),
        })
        .strict(),
    ],
    {
      error: (issue) =>
        `unknown scope type ${describeValue((issue.input as { type?: unknown } | undefined)?.type)}; expected once, session or fingerprint`,
    },
  )
  .describe(
    'What one approval covers. The fingerprint is libpg_query’s hash of the parse tree without literal values.',
  );

const WaitSchema = z
  .object({
    mode: z
      .enum(WAIT_MODES)
      .default('wait')
      .describe(
        'wait: the client’s statement is held (a notice says what it waits for) until it is decided or the limit passes; fail: the client gets an error carrying the approval id at once. Either way the identical statement runs when re-run after approval.',
      ),
    limit: DurationSchema.default('30s').describe(
      'Longest a held statement waits before the client gets an error carrying the approval id (mode wait).',
    ),
  })
  .strict()
  .describe('What the client sees while a decision is pending.');

/** Longest statement timeout of an impact preview: it runs before anyone decided, holding its locks. */
export const MAX_PREVIEW_TIMEOUT_MS = 60_000;

const ImpactPreviewSettingsSchema = z
  .object({
    enabled: z
      .boolean()
      .default(false)
      .describe(
        'true: before anyone decides, the operator runs the held statement in a transaction it always rolls back, on its own connection with the DatabaseConnection’s credentials, and records rows affected and the planner’s estimate on the QueryApproval (status.impact). Only INSERT, UPDATE, DELETE, MERGE and SELECT are previewed, never with functions that act outside the transaction.',
      ),
    statementTimeout: DurationSchema.refine(
      (text) => (parseDurationMs(text) ?? 0) <= MAX_PREVIEW_TIMEOUT_MS,
      {
        error: 'is longer than a preview may run (1m)',
      },
    )
      .default('5s')
      .describe(
        'statement_timeout of the preview, at most 1m; a preview that takes longer is cancelled and recorded as an error, not retried.',
      ),
  })
  .strict()
  .describe('Dry run of a held statement (Kubernetes only; the standalone proxy ignores it).');

/** spec.approval of an AgentAccessPolicy. */
export const ApprovalSettingsSchema = z
  .object({
    approvers: ApproversSchema.prefault({}),
    timeout: DurationSchema.default('1h').describe(
      'How long a request stays pending; undecided by then it expires and the statement needs a new request.',
    ),
    wait: WaitSchema.prefault({}),
    scope: ScopeSchema.prefault({ type: 'once' }),
    requiredApprovals: z
      .number()
      .int()
      .min(1)
      .max(10)
      .default(1)
      .describe('Distinct approvers needed before the statement runs. One denial denies.'),
    impactPreview: ImpactPreviewSettingsSchema.prefault({}),
  })
  .strict()
  .describe(
    'How statements that a rule with action approve holds are decided. Without this section such statements are refused with SQLSTATE 42501, as no one could approve them.',
  );
export type ApprovalSettings = z.output<typeof ApprovalSettingsSchema>;

/** spec.approval as a compiled policy carries it: durations in milliseconds. */
export const CompiledApprovalSchema = z
  .object({
    approvers: z
      .object({ users: z.array(z.string()), groups: z.array(z.string()) })
      .strict()
      .describe('Empty lists: no condition of that kind.'),
    timeoutMs: z.number().int().positive(),
    wait: z.object({ mode: z.enum(WAIT_MODES), limitMs: z.number().int().positive() }).strict(),
    scope: z
      .object({
        type: z.enum(APPROVAL_SCOPES),
        durationMs: z
          .number()
          .int()
          .positive()
          .nullable()
          .describe('fingerprint scope only; null otherwise.'),
      })
      .strict(),
    requiredApprovals: z.number().int().min(1),
  })
  .strict();
export type CompiledApproval = z.output<typeof CompiledApprovalSchema>;

/** A request id: a DNS-1123 label, so the same id names a QueryApproval object. */
export const ApprovalIdSchema = z
  .string()
  .regex(/^apr-[0-9a-z]{6,40}$/, {
    error: (issue) => `${describeValue(issue.input)} is not an approval id (apr- and letters or digits)`,
  })
  .describe('Identifier of the request, e.g. apr-m1x2k3-9f3a1c; also the QueryApproval object’s name.');

const TimestampSchema = z.iso.datetime().describe('UTC time, ISO 8601 with milliseconds.');
const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/);

export const APPROVAL_REQUEST_PHASES = ['Pending', 'Approved', 'Denied', 'Expired', 'Executed'] as const;
export type ApprovalRequestPhase = (typeof APPROVAL_REQUEST_PHASES)[number];

export const ApprovalStatementSchema = z
  .object({
    protocol: z
      .enum(['simple', 'extended'])
      .describe('simple: a Query message; extended: Parse, Bind and Execute.'),
    text: z
      .string()
      .describe('The SQL as the client sent it, with credentials (PASSWORD literals, conninfo) redacted.'),
    parameters: z
      .array(z.string().nullable())
      .describe(
        'Bind parameters as text, in order; null is SQL NULL, binary values are shown as their text or as hex.',
      ),
    digest: Sha256Schema.describe(
      'SHA-256 over the exact text and parameter bytes (with their formats): scope once runs only what matches it.',
    ),
    fingerprint: z
      .string()
      .regex(/^[0-9a-f]{16}$/)
      .describe(
        'Fingerprint of the parse tree (libpg_query): the same for the same statement with other literal or parameter values.',
      ),
  })
  .strict()
  .describe('The statement held for approval. Never a credential.');
export type ApprovalStatement = z.output<typeof ApprovalStatementSchema>;

export const RequesterSchema = z
  .object({
    clientAddress: z.string().nullable().describe('Address and port the client connected from.'),
    clientUser: z
      .string()
      .nullable()
      .describe(
        'User name in the client’s startup message; standalone, the identity checked against self-approval.',
      ),
    session: z.string().min(1).describe('The client session that asked; scope session covers only this one.'),
    namespace: z.string().nullable().describe('Namespace of the agent pod (Kubernetes); null standalone.'),
    pod: z.string().nullable().describe('Name of the agent pod (Kubernetes); null standalone.'),
    serviceAccount: z
      .string()
      .nullable()
      .describe('Service account of the agent pod (Kubernetes); null standalone.'),
  })
  .strict()
  .describe('Who asked: the agent whose statement is held.');

export const ApprovalRequestSchema = z
  .object({
    statement: ApprovalStatementSchema,
    requester: RequesterSchema,
    policy: z
      .object({
        name: z
          .string()
          .min(1)
          .describe('The AgentAccessPolicy (Kubernetes) or policy file name (standalone).'),
        hash: Sha256Schema.describe('SHA-256 of the compiled policy that held the statement.'),
        rule: z.string().min(1).describe('The rule whose action approve held it.'),
        message: z.string().describe('What the rule says to the agent; may be empty.'),
      })
      .strict()
      .describe('The policy and rule that held the statement.'),
    approvers: z
      .object({
        users: z.array(z.string()).describe('Users who may decide; empty: no condition on the user.'),
        groups: z
          .array(z.string())
          .describe('Groups whose members may decide; empty: no condition on groups.'),
      })
      .strict()
      .describe('spec.approval.approvers when the request was made.'),
    requiredApprovals: z.number().int().min(1).describe('Distinct approvals needed.'),
    scope: z
      .object({
        type: z.enum(APPROVAL_SCOPES).describe('once, session or fingerprint (see spec.approval.scope).'),
        durationMs: z.number().int().positive().nullable().describe('fingerprint scope: how long it covers.'),
      })
      .strict()
      .describe('What the approval will cover (spec.approval.scope when the request was made).'),
    createdAt: TimestampSchema,
    expiresAt: TimestampSchema.describe('Undecided by then, the request expires.'),
  })
  .strict();
export type ApprovalRequest = z.output<typeof ApprovalRequestSchema>;

const DecisionSchema = z
  .object({
    by: UserNameSchema.describe('Who decided, as the approval API established it (never the requester).'),
    at: TimestampSchema,
    reason: z.string().max(1000).nullable().describe('Why, in the approver’s words.'),
  })
  .strict();
export type ApprovalDecision = z.output<typeof DecisionSchema>;

export const IMPACT_RESULTS = ['Running', 'Previewed', 'Refused', 'Failed'] as const;

export const ImpactSchema = z
  .object({
    result: z
      .enum(IMPACT_RESULTS)
      .describe(
        'Running: the preview has started (one left by an operator that stopped becomes Failed after 5 minutes; a preview never runs twice); Previewed: it ran and was rolled back; Refused: the statement cannot be previewed safely (error says why); Failed: it did not complete (error, e.g. the statement timeout).',
      ),
    rowsAffected: z
      .number()
      .int()
      .min(0)
      .nullable()
      .describe('Rows the statement inserted, updated, deleted or returned before the rollback.'),
    planRows: z
      .number()
      .min(0)
      .nullable()
      .describe('The planner’s row estimate (EXPLAIN) for the rows the statement reads to change or return.'),
    plan: z.string().nullable().describe('EXPLAIN output (text format), at most 4000 characters.'),
    error: z.string().nullable().describe('Why the preview was refused or failed; null when it ran.'),
    durationMs: z.number().min(0).nullable().describe('How long the statement ran in the preview.'),
    at: TimestampSchema.describe('When the preview started.'),
  })
  .strict()
  .describe(
    'Impact preview (spec.approval.impactPreview of the policy): what the statement did in a transaction that was rolled back. Absent when the policy does not ask for it.',
  );
export type Impact = z.output<typeof ImpactSchema>;

export const ApprovalStatusSchema = z
  .object({
    phase: z
      .enum(APPROVAL_REQUEST_PHASES)
      .describe(
        'Pending → Approved, Denied or Expired; an approved statement that ran → Executed (scope once) or stays Approved while its scope lasts.',
      ),
    approvals: z.array(DecisionSchema).describe('Approvals given so far, one per approver.'),
    decidedBy: UserNameSchema.nullable().describe('Who made the decision that ended Pending.'),
    reason: z.string().nullable().describe('Reason given with that decision.'),
    decidedAt: TimestampSchema.nullable(),
    validUntil: TimestampSchema.nullable().describe(
      'fingerprint scope: the approval covers statements until then.',
    ),
    executions: z
      .array(
        z
          .object({
            at: TimestampSchema,
            session: z.string().min(1).describe('The client session it ran in.'),
            commandTag: z.string().nullable().describe('e.g. UPDATE 3; null when the statement failed.'),
            rows: z
              .number()
              .int()
              .min(0)
              .nullable()
              .describe('Rows affected or returned, from the command tag.'),
            error: z.string().nullable().describe('The server’s error when the statement failed.'),
          })
          .strict(),
      )
      .describe('Each time the approved statement ran.'),
    impact: ImpactSchema.optional(),
  })
  .strict();
export type ApprovalStatus = z.output<typeof ApprovalStatusSchema>;

/** One approval request with its status: a file of the standalone store, a QueryApproval object in Kubernetes. */
export const ApprovalRecordSchema = z
  .object({
    id: ApprovalIdSchema,
    request: ApprovalRequestSchema,
    status: ApprovalStatusSchema,
  })
  .strict();
export type ApprovalRecord = z.output<typeof ApprovalRecordSchema>;

/** The body of an approve or deny call to the approval API. */
export const ApprovalVerdictSchema = z
  .object({
    by: UserNameSchema.describe('The deciding user (standalone: the OS user or --as).'),
    reason: z.string().max(1000).nullable().default(null),
  })
  .strict();
