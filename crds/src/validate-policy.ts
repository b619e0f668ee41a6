import { type FieldError, fieldErrorMap, toFieldErrors } from './field-errors.js';
import { deepFreeze } from './freeze.js';
import { type AgentAccessPolicy, AgentAccessPolicySchema, StandalonePolicySchema } from './policy.js';

export type PolicyValidation = { ok: true; policy: AgentAccessPolicy } | { ok: false; errors: FieldError[] };

/**
 * Validates a parsed AgentAccessPolicy document. `standalone` relaxes what only
 * Kubernetes needs (spec.connection). The policy file loader and the
 * operator's admission webhook both go through here, so both report the same
 * field paths and messages. The policy returned is deep-frozen.
 */
export function validatePolicy(document: unknown, options: { standalone: boolean }): PolicyValidation {
  const schema = options.standalone ? StandalonePolicySchema : AgentAccessPolicySchema;
  const result = schema.safeParse(document, { error: fieldErrorMap });
  if (!result.success) return { ok: false, errors: toFieldErrors(result.error.issues) };
  return { ok: true, policy: deepFreeze(result.data) };
}
