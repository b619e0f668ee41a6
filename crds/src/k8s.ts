import { z } from 'zod';
import { describeValue } from './field-errors.js';

/**
 * Kubernetes shapes policies embed. Patterns avoid look-arounds: the API
 * server evaluates CRD patterns with Go's RE2.
 */

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** RFC 1123 label: rule names, namespaces. */
export const DnsLabelSchema = z
  .string()
  .max(63)
  .regex(DNS_LABEL, {
    error: (issue) =>
      `${describeValue(issue.input)} is not a valid name: use lower-case letters, digits and "-", starting and ending with a letter or digit`,
  });

/** RFC 1123 subdomain: object names. */
export const DnsSubdomainSchema = z
  .string()
  .max(253)
  .regex(DNS_SUBDOMAIN, {
    error: (issue) =>
      `${describeValue(issue.input)} is not a valid name: use lower-case letters, digits, "-" and ".", starting and ending with a letter or digit`,
  });

const StringMapSchema = z.record(z.string(), z.string());

const LabelSelectorRequirementSchema = z
  .object({
    key: z.string().min(1).describe('The label key the requirement applies to.'),
    operator: z
      .enum(['In', 'NotIn', 'Exists', 'DoesNotExist'])
      .describe('In, NotIn, Exists or DoesNotExist, as in any Kubernetes label selector.'),
    values: z
      .array(z.string())
      .optional()
      .describe('Label values; required and non-empty for In and NotIn, absent for Exists and DoesNotExist.'),
  })
  .strict()
  .meta({
    'x-kubernetes-validations': [
      {
        rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values)",
        message: 'In and NotIn need at least one value; Exists and DoesNotExist take no values',
        fieldPath: '.values',
      },
    ],
  })
  .superRefine((r, ctx) => {
    const needsValues = r.operator === 'In' || r.operator === 'NotIn';
    if (needsValues && (r.values ?? []).length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['values'],
        message: `operator ${r.operator} needs at least one value`,
      });
    } else if (!needsValues && r.values !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['values'], message: `operator ${r.operator} takes no values` });
    }
  });

/**
 * A Kubernetes LabelSelector. Unlike Kubernetes, an empty selector is refused:
 * here it would grant database access to every pod in the namespace.
 */
export const LabelSelectorSchema = z
  .object({
    matchLabels: StringMapSchema.optional().describe(
      'Labels a pod must carry, all of them, with these values.',
    ),
    matchExpressions: z
      .array(LabelSelectorRequirementSchema)
      .optional()
      .describe('Label requirements a pod must meet, all of them.'),
  })
  .strict()
  .meta({
    'x-kubernetes-validations': [
      {
        rule: '(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)',
        message:
          'an empty selector would select every pod in the namespace; give matchLabels or matchExpressions',
      },
    ],
  })
  .superRefine((s, ctx) => {
    if (Object.keys(s.matchLabels ?? {}).length === 0 && (s.matchExpressions ?? []).length === 0) {
      ctx.addIssue({
        code: 'custom',
        message:
          'an empty selector would select every pod in the namespace; give matchLabels or matchExpressions',
      });
    }
  });
export type LabelSelector = z.output<typeof LabelSelectorSchema>;

/** The part of ObjectMeta a manifest author writes; server-set fields (uid, resourceVersion…) pass through. */
export const ObjectMetaSchema = z
  .object({
    name: DnsSubdomainSchema.describe(
      'Name of the policy; it names the policy in decisions, recordings and logs.',
    ),
    namespace: DnsLabelSchema.optional().describe(
      'Namespace of the policy (Kubernetes only); it binds pods and uses DatabaseConnections of this namespace.',
    ),
    labels: StringMapSchema.optional().describe('Kubernetes labels.'),
    annotations: StringMapSchema.optional().describe('Kubernetes annotations.'),
  })
  .loose();
