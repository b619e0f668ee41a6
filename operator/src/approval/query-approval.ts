import {
  API_GROUP,
  API_VERSION,
  type ApprovalRecord,
  type ApprovalRequest,
  type ApprovalStatus,
  pendingStatus,
  QUERY_APPROVAL_KIND,
  QUERY_APPROVAL_PLURAL,
  STATEMENT_EXCERPT_ANNOTATION,
  statementExcerpt,
} from '@pgwarden/crds';

/** A QueryApproval as the API server stores it. */
export interface QueryApproval {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec: ApprovalRequest;
  status?: ApprovalStatus;
}

export const QUERY_APPROVAL_REF = { group: API_GROUP, version: API_VERSION, plural: QUERY_APPROVAL_PLURAL };

/**
 * The label that lets the operator find the requests that may cover a statement
 * (same fingerprint: every scope matches on it or on the digest, which implies
 * it) without reading every object of the namespace.
 */
export const FINGERPRINT_LABEL = 'pgwarden.io/fingerprint';

/** The new object for a request (its status is written separately: a create ignores it). */
export function queryApprovalObject(id: string, namespace: string, request: ApprovalRequest): QueryApproval {
  return {
    apiVersion: `${API_GROUP}/${API_VERSION}`,
    kind: QUERY_APPROVAL_KIND,
    metadata: {
      name: id,
      namespace,
      annotations: { [STATEMENT_EXCERPT_ANNOTATION]: statementExcerpt(request.statement.text) },
      labels: { [FINGERPRINT_LABEL]: request.statement.fingerprint },
    },
    spec: request,
  };
}

/** The object as the approval record the sidecars and the decision rules read; a status not written yet is Pending. */
export function toRecord(object: QueryApproval): ApprovalRecord {
  return { id: object.metadata.name, request: object.spec, status: object.status ?? pendingStatus() };
}

/** The Kubernetes user name of the agent that asked: its service account, which must never decide. */
export function requesterUser(request: ApprovalRequest): string | null {
  const { namespace, serviceAccount } = request.requester;
  return namespace && serviceAccount ? `system:serviceaccount:${namespace}:${serviceAccount}` : null;
}
