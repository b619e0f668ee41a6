import { z } from 'zod';
import { ApprovalSettingsSchema } from './approval.js';
import { BUILTIN_RULES } from './builtin-rules.js';
import { DurationSchema } from './duration.js';
import { describeValue } from './field-errors.js';
import { DnsLabelSchema, DnsSubdomainSchema, LabelSelectorSchema, ObjectMetaSchema } from './k8s.js';
import { MaskingSchema } from './masking.js';
import { NamePatternSchema } from './name-pattern.js';
import { RecordingSettingsSchema } from './recording.js';
import { StatementKindSchema } from './statement-kinds.js';

/**
 * AgentAccessPolicy, pgwarden.io/v1alpha1: what an AI agent may do to one
 * database. Every description below is user documentation: it feeds
 * `kubectl explain` and the field reference in docs/policy.md.
 */

export const POLICY_API_VERSION = 'pgwarden.io/v1alpha1';
export const POLICY_KIND = 'AgentAccessPolicy';

export const ACCESS_MODES = ['read-only', 'read-write'] as const;
export type AccessMode = (typeof ACCESS_MODES)[number];
export const AccessModeSchema = z.enum(ACCESS_MODES, {
  error: (issue) => `unknown access ${describeValue(issue.input)}; expected read-only or read-write`,
});

export const RULE_ACTIONS = ['allow', 'deny', 'approve'] as const;
export type RuleAction = (typeof RULE_ACTIONS)[number];
export const RuleActionSchema = z.enum(RULE_ACTIONS, {
  error: (issue) => `unknown action ${describeValue(issue.input)}; expected allow, deny or approve`,
});

const SubjectsSchema = z
  .object({
    serviceAccounts: z
      .array(DnsSubdomainSchema)
      .min(1)
      .optional()
      .describe('Names of service accounts in the policy’s namespace whose pods the policy binds.'),
    podSelector: LabelSelectorSchema.optional().describe(
      'Label selector for the pods the policy binds. An empty selector is refused: it would bind every pod.',
    ),
  })
  .strict()
  .describe(
    'Which agent pods the policy applies to (Kubernetes only; ignored by the standalone proxy). A pod is bound when it meets every field given; a policy without subjects binds no pod.',
  );

const NamePatternListSchema = z.array(NamePatternSchema).min(1);

const MatchSchema = z
  .object({
    kinds: z
      .array(StatementKindSchema)
      .min(1)
      .optional()
      .describe('Statement kinds the rule applies to. Omitted: every kind.'),
    tables: NamePatternListSchema.optional().describe(
      'Table and view name patterns ("name" or "schema.name", with * and ?), compared with every table the statement reads or writes, including in subqueries, CTEs and the statement a PREPARE, DECLARE or EXPLAIN wraps. A deny or approve rule matches when any of those tables matches; an allow rule only when the statement uses at least one table and every one matches. Omitted: no condition on tables.',
    ),
    functions: NamePatternListSchema.optional().describe(
      'Function name patterns, compared with every function the statement calls. A deny or approve rule matches when any called function matches; an allow rule only when the statement calls at least one function and every one matches. Omitted: no condition on functions.',
    ),
    locks: z
      .boolean()
      .optional()
      .describe(
        'true: the rule applies only to statements that lock rows or tables (SELECT … FOR UPDATE/SHARE, LOCK TABLE); false: only to statements that do not. Omitted: no condition.',
      ),
  })
  .strict()
  .describe(
    'When the rule applies: every field given must match. An empty match ({}) matches every statement.',
  );

const RuleSchema = z
  .object({
    name: DnsLabelSchema.describe(
      'Unique name of the rule (lower-case letters, digits and "-"); it appears in every decision, error and recording. Names of built-in rules are reserved.',
    ),
    match: MatchSchema,
    action: RuleActionSchema.describe(
      'allow: forward the statement; deny: refuse it with SQLSTATE 42501; approve: hold it for a human to approve.',
    ),
    message: z
      .string()
      .min(1)
      .max(500)
      .optional()
      .describe('Shown to the agent when the rule denies or holds a statement; say what to do instead.'),
  })
  .strict()
  .describe('A rule: when its match applies, its action decides the statement.');

const LimitsSchema = z
  .object({
    maxRows: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Most rows one statement may return to the agent.'),
    statementTimeout: DurationSchema.optional().describe(
      'Longest a statement may run, e.g. "30s" (units ms, s, m, h). Enforced upstream as statement_timeout; the agent can lower it but not raise it or set it to 0.',
    ),
    queriesPerMinute: z
      .number()
      .int()
      .positive()
      .optional()
      .describe(
        'Statements per minute across all of the agent’s sessions; more are refused with SQLSTATE 53400.',
      ),
  })
  .strict()
  .describe('Resource limits. Omitted fields: no limit.');

const RULE_LIST_DESCRIPTION =
  'Rules in order; the first rule whose match applies decides the statement. A statement no rule matches is denied (default-deny); an empty list denies every statement. Built-in rules run before these and cannot be overridden.';

/**
 * Rule names must be unique and must not shadow a built-in rule. Checked even
 * when some rules have other errors (`when`), so every problem shows at once;
 * the items may therefore be invalid here.
 */
const RuleListSchema = z
  .array(RuleSchema)
  .superRefine(
    (rules, ctx) => {
      const firstUse = new Map<string, number>();
      rules.forEach((rule, i) => {
        const name: unknown = (rule as { name?: unknown } | null)?.name;
        if (typeof name !== 'string') return;
        if (Object.hasOwn(BUILTIN_RULES, name)) {
          ctx.addIssue({
            code: 'custom',
            path: [i, 'name'],
            message: `"${name}" is the name of a built-in rule; choose another name`,
          });
        }
        const first = firstUse.get(name);
        if (first === undefined) firstUse.set(name, i);
        else {
          ctx.addIssue({
            code: 'custom',
            path: [i, 'name'],
            message: `duplicate rule name "${name}", already used by spec.rules[${first}]`,
          });
        }
      });
    },
    { when: (payload) => Array.isArray(payload.value) },
  )
  .describe(RULE_LIST_DESCRIPTION);

/** The spec, with `connection` required (Kubernetes) or optional (standalone file). */
function specSchema<C extends z.ZodType<string | undefined>>(connection: C) {
  return z
    .object({
      subjects: SubjectsSchema.optional(),
      connection,
      access: AccessModeSchema.default('read-only').describe(
        'read-only: no statement that writes or could write is allowed, whatever the rules say, and the upstream session runs with default_transaction_read_only=on. read-write: the rules decide.',
      ),
      rules: RuleListSchema,
      allowFunctions: NamePatternListSchema.optional().describe(
        'Function name patterns taken off the default function deny list for this policy, e.g. ["pg_advisory_xact_lock"]. The rules still decide statements that call them.',
      ),
      limits: LimitsSchema.optional(),
      masking: MaskingSchema.optional(),
      approval: ApprovalSettingsSchema.optional(),
      recording: RecordingSettingsSchema.optional(),
    })
    .strict()
    .describe('What the bound agents may do to the database.');
}

export const AgentAccessPolicySpecSchema = specSchema(
  DnsSubdomainSchema.describe(
    'Name of the DatabaseConnection (same namespace) the policy grants access to. Optional in a standalone policy file, where the proxy’s --upstream names the database.',
  ),
);

export const StandalonePolicySpecSchema = specSchema(
  DnsSubdomainSchema.optional().describe(
    'Name of the DatabaseConnection the policy grants access to; optional in a standalone policy file.',
  ),
);

/** A validated spec; `connection` is optional because standalone files may omit it. */
export type AgentAccessPolicySpec = z.output<typeof StandalonePolicySpecSchema>;
export type PolicyRule = AgentAccessPolicySpec['rules'][number];

function manifestSchema<S extends z.ZodType>(spec: S) {
  return z
    .object({
      apiVersion: z.literal(POLICY_API_VERSION).describe(`Always ${POLICY_API_VERSION}.`),
      kind: z.literal(POLICY_KIND).describe(`Always ${POLICY_KIND}.`),
      metadata: ObjectMetaSchema.describe('Standard Kubernetes object metadata; name is required.'),
      spec,
      status: z.object({}).loose().optional().describe('Written by the operator; ignored in policy files.'),
    })
    .strict();
}

/** The AgentAccessPolicy custom resource as the Kubernetes API holds it. */
export const AgentAccessPolicySchema = manifestSchema(AgentAccessPolicySpecSchema);

/** The same document in a standalone policy file (`pgwarden proxy --policy`, `pgwarden policy test`). */
export const StandalonePolicySchema = manifestSchema(StandalonePolicySpecSchema);

export type AgentAccessPolicy = z.output<typeof StandalonePolicySchema>;
