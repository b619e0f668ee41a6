import { z } from 'zod';
import { CompiledApprovalSchema } from './approval.js';
import { DetectorNameSchema, MaskStrategyNameSchema } from './masking.js';
import { AccessModeSchema, RuleActionSchema } from './policy.js';
import { RecordingSettingsSchema } from './recording.js';
import { StatementKindSchema } from './statement-kinds.js';

/**
 * A policy as the enforcing sidecar receives it (inside a grant, or compiled
 * from a standalone file): every default resolved, every list present, so the
 * engine never interprets an absent field.
 */

export const CompiledRuleSchema = z
  .object({
    name: z.string().min(1),
    action: RuleActionSchema,
    message: z.string().nullable().describe('The rule’s message; null for the engine’s default wording.'),
    match: z
      .object({
        kinds: z
          .array(StatementKindSchema)
          .describe('Kinds the rule applies to; every kind when the spec omits it.'),
        tables: z.array(z.string()).describe('Table name patterns; empty: no condition on tables.'),
        functions: z.array(z.string()).describe('Function name patterns; empty: no condition on functions.'),
        locks: z
          .boolean()
          .nullable()
          .describe('Row or table locks required (true), excluded (false), or no condition (null).'),
        names: z
          .enum(['any', 'every'])
          .describe(
            'How tables and functions match: any (one matching name suffices; deny, approve) or every (at least one name and all of them match; allow).',
          ),
      })
      .strict(),
  })
  .strict();
export type CompiledRule = z.output<typeof CompiledRuleSchema>;

export const CompiledMaskingSchema = z
  .object({
    columns: z.array(
      z
        .object({
          column: z.string().min(1),
          strategy: MaskStrategyNameSchema,
          keepFirst: z.number().int().min(0),
          keepLast: z.number().int().min(0),
        })
        .strict(),
    ),
    labels: z
      .object({ fromComments: z.string().min(1), strategy: MaskStrategyNameSchema })
      .strict()
      .nullable(),
    detectors: z.array(DetectorNameSchema),
    derived: z.enum(['mask', 'deny']),
    predicates: z.enum(['deny', 'allow']),
    hashKeyEnv: z
      .string()
      .nullable()
      .describe('Environment variable holding the hash key; the key itself is never part of a policy.'),
  })
  .strict();
export type CompiledMasking = z.output<typeof CompiledMaskingSchema>;

export const CompiledPolicySchema = z
  .object({
    name: z.string().min(1).describe('metadata.name of the policy.'),
    hash: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .describe('SHA-256 (hex) of the canonical JSON of the validated spec: sorted keys, defaults applied.'),
    access: AccessModeSchema,
    rules: z.array(CompiledRuleSchema),
    limits: z
      .object({
        maxRows: z.number().int().positive().nullable(),
        statementTimeoutMs: z.number().int().positive().nullable(),
        queriesPerMinute: z.number().int().positive().nullable(),
      })
      .strict(),
    functionDenyList: z
      .array(z.string())
      .describe(
        'Function name patterns the engine denies before the rules: the default deny list at compile time.',
      ),
    allowFunctions: z
      .array(z.string())
      .describe('Patterns exempted from functionDenyList (spec.allowFunctions).'),
    masking: CompiledMaskingSchema.nullable().describe('null: results pass unmasked.'),
    approval: CompiledApprovalSchema.nullable().describe(
      'spec.approval with durations in milliseconds; null: statements a rule holds for approval are refused.',
    ),
    recording: RecordingSettingsSchema.nullable().describe(
      'spec.recording with every default filled in; null: sessions are not recorded.',
    ),
  })
  .strict();
export type CompiledPolicy = z.output<typeof CompiledPolicySchema>;
