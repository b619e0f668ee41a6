import {
  type CompiledApproval,
  compilePolicy,
  formatFieldError,
  POLICY_KIND,
  PolicyCompileError,
  validatePolicy,
} from '@pgwarden/crds';
import { type KubeClients, resource } from '../kube/clients.js';
import { getObject } from '../kube/objects.js';

/**
 * spec.approval of an AgentAccessPolicy as it is now, compiled: the approval
 * API takes approvers, timeout, scope and requiredApprovals from here, never
 * from the sidecar. A string says why the policy lets no statement be approved.
 */
export async function policyApproval(
  clients: KubeClients,
  namespace: string,
  name: string,
): Promise<CompiledApproval | string> {
  const object = await getObject(clients, resource('agentaccesspolicies'), namespace, name);
  if (!object)
    return `${POLICY_KIND} ${namespace}/${name} does not exist; no statement can be approved under it`;
  const validation = validatePolicy(object, { standalone: false });
  if (!validation.ok) {
    return `${POLICY_KIND} ${namespace}/${name} is not valid: ${validation.errors.map(formatFieldError).join('; ')}`;
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
