import { z } from 'zod';

/**
 * metav1.Condition, the shape every Kubernetes status condition has. Condition
 * types and reasons are PascalCase words, never sentences; the message is the
 * sentence.
 */

export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;
export type ConditionStatus = (typeof CONDITION_STATUSES)[number];

/** PascalCase-ish, as metav1.Condition's reason: a word a machine can match on. */
export const REASON_PATTERN = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

export const ConditionSchema = z
  .object({
    type: z
      .string()
      .min(1)
      .max(316)
      .regex(
        /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/,
      )
      .describe('Type of the condition, e.g. Ready.'),
    status: z.enum(CONDITION_STATUSES).describe('True, False or Unknown.'),
    observedGeneration: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('metadata.generation of the object when the condition was set.'),
    lastTransitionTime: z
      .string()
      .meta({ format: 'date-time' })
      .describe('When the condition last changed status (RFC 3339).'),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(REASON_PATTERN)
      .describe('Machine-readable cause of the last transition, in PascalCase.'),
    message: z.string().max(32768).describe('Human-readable details of the last transition.'),
  })
  .strict()
  .describe('One aspect of the object’s state (metav1.Condition).');
export type Condition = z.output<typeof ConditionSchema>;

/** The conditions list, merged by type as Kubernetes does (`x-kubernetes-list-type: map`). */
export const ConditionListSchema = z
  .array(ConditionSchema)
  .max(16)
  .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
  .describe('Latest observations of the object’s state, one per condition type.');
