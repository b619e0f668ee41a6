import { type AgentAccessPolicy, type CompiledPolicy, validatePolicy } from '@pgwarden/crds';
import { compilePolicy } from '../../src/decide/compile.js';
import { PolicyEngine } from '../../src/decide/engine.js';

/** A validated standalone policy from a spec written inline; throws with the field errors when invalid. */
export function policy(spec: Record<string, unknown>, name = 'test-policy'): AgentAccessPolicy {
  const result = validatePolicy(
    { apiVersion: 'pgwarden.io/v1alpha1', kind: 'AgentAccessPolicy', metadata: { name }, spec },
    { standalone: true },
  );
  if (!result.ok) throw new Error(result.errors.map((e) => `${e.path}: ${e.message}`).join('; '));
  return result.policy;
}

export function compiled(spec: Record<string, unknown>): CompiledPolicy {
  return compilePolicy(policy(spec));
}

export function engine(spec: Record<string, unknown>): PolicyEngine {
  return new PolicyEngine(compiled(spec));
}
