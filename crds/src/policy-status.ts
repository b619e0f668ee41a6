import { z } from 'zod';
import { ConditionListSchema } from './conditions.js';

/** Condition types the operator sets on an AgentAccessPolicy. */
export const AgentAccessPolicyConditions = {
  /** The policy compiled with the same compiler the sidecar runs. */
  Compiled: 'Compiled',
  /** Compiled, and its DatabaseConnection exists and is Ready. */
  Ready: 'Ready',
} as const;

/** Why an AgentAccessPolicy is (not) Compiled/Ready; PascalCase, never sentences. */
export const AgentAccessPolicyReasons = {
  Compiled: 'Compiled',
  /** The object does not match the schema (an API server without the CRD's validation, or version skew). */
  InvalidSpec: 'InvalidSpec',
  /** Valid, but this version cannot enforce it (e.g. a reserved section is used). */
  CompileFailed: 'CompileFailed',
  ConnectionNotFound: 'ConnectionNotFound',
  ConnectionNotReady: 'ConnectionNotReady',
  Ready: 'Ready',
} as const;
export type AgentAccessPolicyReason = keyof typeof AgentAccessPolicyReasons;

/** The status of an AgentAccessPolicy, written by the operator. */
export const AgentAccessPolicyStatusSchema = z
  .object({
    observedGeneration: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('metadata.generation of the spec the status describes.'),
    conditions: ConditionListSchema.optional(),
    compiledHash: z
      .string()
      .max(128)
      .optional()
      .describe('Hash of the compiled policy; recordings and grants name the policy version by it.'),
    boundPods: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe(
        'Number of pods the policy binds that have not finished (Succeeded/Failed) and are not being deleted.',
      ),
  })
  .strict()
  .describe('Written by the operator.');
export type AgentAccessPolicyStatus = z.output<typeof AgentAccessPolicyStatusSchema>;
