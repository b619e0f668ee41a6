import { AuthorizationV1Api } from '@kubernetes/client-node';
import {
  type ApprovalRequest,
  type ApprovalStatus,
  decideApproval,
  pendingStatus,
  QUERY_APPROVAL_PLURAL,
} from '@pgwarden/crds';
import { apiStatus, type KubeClients, resource } from '../../kube/clients.js';
import { getObject, setStatusField } from '../../kube/objects.js';
import { requesterUser } from '../query-approval.js';
import type { SlackDecider } from './slack-interactions.js';

const QUERY_APPROVALS = resource(QUERY_APPROVAL_PLURAL);
const CONFLICT_RETRIES = 3;
/** managedFields name the writer: decisions that came through Slack stand apart from the operator's own writes. */
const FIELD_MANAGER = 'pgwarden-operator-slack';

/**
 * A decision made with a Slack button, written by the operator on behalf of
 * the mapped Kubernetes user. The admission webhook lets the operator's own
 * writes through, so nothing here may be weaker than `kubectl pgwarden
 * approve` run by that user: the user must be allowed by RBAC to write the
 * status (a SubjectAccessReview asks the API server), and the same decision
 * rules (crds decideApproval: pending only, no self-approval, the policy's
 * approvers, distinct approvers) decide from the stored object. The write
 * carries the resourceVersion it decided from; a concurrent change makes it
 * decide again.
 */
export function slackDecider(clients: KubeClients, now: () => number = Date.now): SlackDecider {
  const authorization = clients.config.makeApiClient(AuthorizationV1Api);
  return async ({ namespace, name }, approve, mapped, reason) => {
    // Every user the API server authenticates is in system:authenticated; kubectl's requests carry it too.
    const approver = { user: mapped.user, groups: [...new Set([...mapped.groups, 'system:authenticated'])] };
    const review = await authorization.createSubjectAccessReview({
      body: {
        spec: {
          user: approver.user,
          groups: approver.groups,
          resourceAttributes: {
            group: QUERY_APPROVALS.group,
            resource: QUERY_APPROVAL_PLURAL,
            subresource: 'status',
            verb: 'patch',
            namespace,
            name,
          },
        },
      },
    });
    if (!review.status?.allowed) {
      return {
        ok: false,
        status: 403,
        message: `${approver.user} may not decide QueryApprovals in ${namespace} (RBAC: no patch on queryapprovals/status)`,
      };
    }
    for (let attempt = 1; ; attempt++) {
      const stored = await getObject<ApprovalStatus>(clients, QUERY_APPROVALS, namespace, name);
      if (!stored) return { ok: false, status: 404, message: `QueryApproval ${namespace}/${name} not found` };
      const request = stored.spec as ApprovalRequest;
      const record = { id: name, request, status: stored.status ?? pendingStatus() };
      const decided = decideApproval(record, approve, approver, reason, now(), requesterUser(request));
      if (!decided.ok) return decided;
      try {
        await setStatusField(
          clients,
          QUERY_APPROVALS,
          stored.metadata,
          '/status',
          decided.status,
          FIELD_MANAGER,
        );
        return { ok: true, status: decided.status };
      } catch (error) {
        if (apiStatus(error) !== 409 || attempt >= CONFLICT_RETRIES) throw error;
      }
    }
  };
}
