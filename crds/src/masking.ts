import { z } from 'zod';
import { describeValue } from './field-errors.js';

/**
 * spec.masking: which result columns are masked and how. Column patterns are
 * matched against schema.table.column of the columns PostgreSQL reports for a
 * result (RowDescription), of the views built on them, and of the columns the
 * statement's expressions use.
 */

/** Content detectors, by name (sidecar/src/mask/detectors). */
export const DETECTOR_NAMES = ['ssn', 'credit-card', 'email', 'phone', 'iban', 'secret'] as const;
export const DetectorNameSchema = z.enum(DETECTOR_NAMES, {
  error: (issue) =>
    `unknown detector ${describeValue(issue.input)}; expected one of ${DETECTOR_NAMES.join(', ')}`,
});
export type DetectorName = z.output<typeof DetectorNameSchema>;

export const MASK_STRATEGIES = ['redact', 'partial', 'hash', 'null'] as const;
export const MaskStrategyNameSchema = z
  .enum(MASK_STRATEGIES, {
    error: (issue) =>
      `unknown strategy ${describeValue(issue.input)}; expected redact, partial, hash or null`,
  })
  .describe(
    'redact: "[redacted]" for character data, NULL for other types; partial: keep keepFirst/keepLast characters, "*" for the rest; hash: HMAC-SHA-256 under the policy’s hash key, "h:" + 16 hex digits (integers and uuids hash to a value of their type), equal inputs give equal outputs so results stay joinable; null: SQL NULL.',
  );

/** Three dot-separated parts without white space: schema.table.column, each may use * and ?. */
const COLUMN_PATTERN = /^[^.\s]+\.[^.\s]+\.[^.\s]+$|^[^.\s]+\.[^.\s]+$/;

export const ColumnPatternSchema = z.string().regex(COLUMN_PATTERN, {
  error: (issue) =>
    `${describeValue(issue.input)} is not a column pattern; use schema.table.column or table.column, with * and ? as wildcards (e.g. "public.customers.ssn", "*.email")`,
});

const KEEP_DESCRIPTION = 'partial only: characters shown at the';

export const ColumnRuleSchema = z
  .object({
    column: ColumnPatternSchema.describe(
      'Column name pattern: "schema.table.column", or "table.column" for that table in any schema; "*" matches any run of characters and "?" one character within a part (e.g. "*.email" masks every column named email). Case-insensitive. Matches table, view and materialized view columns.',
    ),
    strategy: MaskStrategyNameSchema,
    keepFirst: z.number().int().min(0).max(16).optional().describe(`${KEEP_DESCRIPTION} start (default 0).`),
    keepLast: z.number().int().min(0).max(16).optional().describe(`${KEEP_DESCRIPTION} end (default 0).`),
  })
  .strict()
  .superRefine((rule, ctx) => {
    if (rule.strategy !== 'partial' && (rule.keepFirst !== undefined || rule.keepLast !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [rule.keepFirst !== undefined ? 'keepFirst' : 'keepLast'],
        message: `only the partial strategy keeps characters; remove it or use strategy: partial`,
      });
    }
  })
  .describe('One column rule: the first rule whose pattern matches a column decides its strategy.');
export type ColumnRule = z.output<typeof ColumnRuleSchema>;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const HashKeySourceSchema = z
  .object({
    env: z
      .string()
      .regex(ENV_NAME, {
        error: (issue) => `${describeValue(issue.input)} is not an environment variable name`,
      })
      .describe(
        'Environment variable of the sidecar holding the key (at least 16 bytes; in Kubernetes, set it from a Secret). The key never appears in the policy, its hash, logs or recordings.',
      ),
  })
  .strict()
  .describe(
    'Where the hash strategy’s HMAC key comes from. Required when any rule uses strategy: hash. Changing the key changes every hashed value.',
  );

export const MaskingSchema = z
  .object({
    columns: z
      .array(ColumnRuleSchema)
      .default([])
      .describe('Column rules in order; the first rule whose pattern matches a column applies.'),
    labels: z
      .object({
        fromComments: z
          .string()
          .min(1)
          .regex(/^[^%_\\]+$/, {
            error: () => 'the label must not contain %, _ or \\',
          })
          .describe(
            'A tag (e.g. "pii"): every column whose COMMENT contains it (case-insensitive) is masked, in addition to the column rules.',
          ),
        strategy: MaskStrategyNameSchema.default('redact').describe(
          'Strategy for columns masked by their comment (default redact; partial keeps nothing).',
        ),
      })
      .strict()
      .optional()
      .describe('Mask columns the database itself labels as sensitive, through COMMENT ON COLUMN.'),
    detectors: z
      .array(DetectorNameSchema)
      .default([])
      .describe(
        'Content detectors run on every text value of every result, error and notice, masking the matching substring with "[redacted]": ssn (area/group rules), credit-card (Luhn), email, phone, iban (mod-97), secret (keys and tokens). A second net for what column rules do not name.',
      ),
    derived: z
      .enum(['mask', 'deny'])
      .default('mask')
      .describe(
        'Output columns computed from masked columns (upper(ssn), ssn || \'\', row_to_json(c), string_agg(ssn, …), a UNION branch…): mask masks the whole output value (redact: "[redacted]" or NULL); deny refuses the statement (SQLSTATE 42501, rule masking-derived).',
      ),
    predicates: z
      .enum(['deny', 'allow'])
      .default('deny')
      .describe(
        "Statements that filter, join, sort, group or window on a masked column (WHERE ssn LIKE '1%' is an oracle): deny refuses them (rule masking-predicates); allow lets them run with the outputs still masked.",
      ),
    hashKey: HashKeySourceSchema.optional(),
  })
  .strict()
  .superRefine((masking, ctx) => {
    const hashed = masking.columns.some((c) => c.strategy === 'hash') || masking.labels?.strategy === 'hash';
    if (hashed && masking.hashKey === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['hashKey'],
        message: 'a rule uses strategy: hash, which needs a key: add hashKey: {env: NAME}',
      });
    }
  })
  .describe(
    'Column masking: results are rewritten on the wire before they reach the agent. See docs/masking.md.',
  );
export type Masking = z.output<typeof MaskingSchema>;
