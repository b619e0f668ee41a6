import type { V1Pod } from '@kubernetes/client-node';
import {
  type CompiledApproval,
  compilePolicy,
  formatFieldError,
  POLICY_KIND,
  PolicyCompileError,
  validatePolicy,
} from '@pgwarden/crds';
import { binds, podFacts } from '../agent-access-policy/binding.js';
import { AGENT_ACCESS_POLICIES } from '../agent-access-policy/reconcile.js';
import type { KubeClients } from '../kube/clients.js';
import { getObject } from '../kube/objects.js';

/**
 * spec.approval of an AgentAccessPolicy as it is now, compiled, if the policy
 * binds `pod`: the approval API takes approvers, timeout, scope and
 * requiredApprovals from here, never from the sidecar. A string says why no
 * statement of the pod can be approved under it.
 */
export async function policyApproval(
  clients: KubeClients,
  namespace: string,
  name: string,
  pod: V1Pod,
): Promise<CompiledApproval | string> {
  const object = await getObject(clients, AGENT_ACCESS_POLICIES, namespace, name);
  if (!object)
    return `${POLICY_KIND} ${namespace}/${name} does not exist; no statement can be approved under it`;
  const validation = validatePolicy(object, { standalone: false });
  if (!validation.ok) {
    return `${POLICY_KIND} ${namespace}/${name} is not valid: ${validation.errors.map(formatFieldError).join('; ')}`;
  }
  if (!binds(validation.policy.spec.subjects, podFacts(pod))) {
    return `${POLICY_KIND} ${namespace}/${name} does not bind pod ${namespace}/${pod.metadata?.name}; its statements are not approved under it`;
  }
  try {
    const { approval } = compilePolicy(validation.policy);
    return (
      approval ??
      `${POLICY_KIND} ${namespace}/${name} has no spec.approval; nobody can approve its held statements`
    );
  } catch (error) {
    if (error instanceof PolicyCompileError)
      return `${POLICY_KIND} ${namespace}/${name} does not compile: ${error.message}`;
    throw error;
  }
}
