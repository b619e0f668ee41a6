import type { V1ClusterRole, V1ClusterRoleBinding, V1Role, V1RoleBinding } from '@kubernetes/client-node';
import { API_GROUP, QUERY_APPROVAL_PLURAL } from '@pgwarden/crds';

const partOf = { 'app.kubernetes.io/part-of': 'pgwarden', 'app.kubernetes.io/component': 'operator' };

export interface RbacOptions {
  namespace: string;
  serviceAccount: string;
  /**
   * --secret-namespaces: Secrets are read in these namespaces only, through a
   * Role in each, instead of cluster-wide; omitted or empty: cluster-wide.
   */
  secretNamespaces?: readonly string[];
  /** The webhook configurations (mutating and validating) whose caBundle the operator may update, and no others. */
  webhookConfigName: string;
  /** The Secret in its namespace holding the webhook's certificate (--webhook-secret). */
  webhookSecret: string;
  /**
   * --webhook-cert-mode (default self). external: the operator only reads that
   * Secret and patches no webhook configuration, so neither write is granted.
   */
  webhookCertMode?: 'self' | 'external';
}

/**
 * What the operator may do, and no more. Cluster-wide reads of what it
 * watches (its CRs, the Secrets they name, pods for binding and for the
 * grant API's bound-pod check), status writes of its CRs, Events,
 * TokenReviews (the grant API authenticates sidecars with them); in its own
 * namespace the Lease and the webhook's Secret. Cluster-wide Secret reads are
 * the price of DatabaseConnections in any namespace naming their credential
 * Secret; with `secretNamespaces` they become a Role per listed namespace.
 */
export function operatorRbac(
  o: RbacOptions,
): (V1ClusterRole | V1ClusterRoleBinding | V1Role | V1RoleBinding)[] {
  const name = 'pgwarden-operator';
  const secretNamespaces = o.secretNamespaces ?? [];
  // The Secrets DatabaseConnections name: metadata listed and watched (a rotation re-probes, a grant's version follows it), values read when used.
  const readSecrets = { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] };
  const selfManaged = (o.webhookCertMode ?? 'self') === 'self';
  const subject = { kind: 'ServiceAccount', name: o.serviceAccount, namespace: o.namespace };
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name, labels: partOf },
      rules: [
        {
          apiGroups: [API_GROUP],
          resources: ['databaseconnections', 'agentaccesspolicies'],
          verbs: ['get', 'list', 'watch'],
        },
        {
          apiGroups: [API_GROUP],
          resources: ['databaseconnections/status', 'agentaccesspolicies/status'],
          verbs: ['get', 'patch', 'update'],
        },
        // QueryApprovals: created for held statements, withdrawn on cancel, status for runs and expiry.
        {
          apiGroups: [API_GROUP],
          resources: [QUERY_APPROVAL_PLURAL],
          verbs: ['get', 'list', 'watch', 'create', 'delete'],
        },
        {
          apiGroups: [API_GROUP],
          resources: [`${QUERY_APPROVAL_PLURAL}/status`],
          verbs: ['get', 'patch', 'update'],
        },
        // Pods: counting the pods a policy binds, and the grant API's check that a token's pod still exists.
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
        ...(secretNamespaces.length === 0 ? [readSecrets] : []),
        { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
        // The grant API asks the API server who a sidecar's projected token belongs to; create is the only verb.
        { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
        // A decision made with a Slack button: may the mapped user write QueryApproval status, as kubectl would need?
        { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
        ...(selfManaged
          ? [
              {
                apiGroups: ['admissionregistration.k8s.io'],
                resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'],
                resourceNames: [o.webhookConfigName],
                verbs: ['get', 'update'],
              },
            ]
          : []),
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name, labels: partOf },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [subject],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name, namespace: o.namespace, labels: partOf },
      rules: [
        // create cannot be limited by name: the object does not exist yet.
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
        // Without the cluster-wide read: the notification channels' Secrets (HMAC keys, Slack tokens), read by name when used.
        ...(secretNamespaces.length > 0 ? [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] : []),
        // The webhook's certificate, by name: read and watched to serve it (list and watch by a metadata.name field selector).
        {
          apiGroups: [''],
          resources: ['secrets'],
          resourceNames: [o.webhookSecret],
          verbs: ['get', 'list', 'watch'],
        },
        // Self mode writes it; create cannot be limited by name.
        ...(selfManaged ? [{ apiGroups: [''], resources: ['secrets'], verbs: ['create', 'update'] }] : []),
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name, namespace: o.namespace, labels: partOf },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [subject],
    },
    ...secretNamespaces.flatMap((namespace): [V1Role, V1RoleBinding] => [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: `${name}-secrets`, namespace, labels: partOf },
        rules: [readSecrets],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: `${name}-secrets`, namespace, labels: partOf },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${name}-secrets` },
        subjects: [subject],
      },
    ]),
  ];
}

/** The ClusterRole {@link approverRole} grants: bind it per namespace (RoleBinding) to the policy's approvers. */
export const APPROVER_ROLE = 'pgwarden-approver';

/**
 * What an approver needs, and no more: read QueryApprovals and write their
 * status (where a decision is written; the admission webhook checks who may
 * decide what). Agents' service accounts are never bound to it. Aggregated
 * into no built-in role, so edit or admin alone cannot decide.
 */
export function approverRole(): V1ClusterRole {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: APPROVER_ROLE, labels: { ...partOf, 'app.kubernetes.io/component': 'approvals' } },
    rules: [
      { apiGroups: [API_GROUP], resources: [QUERY_APPROVAL_PLURAL], verbs: ['get', 'list', 'watch'] },
      {
        apiGroups: [API_GROUP],
        resources: [`${QUERY_APPROVAL_PLURAL}/status`],
        verbs: ['get', 'update', 'patch'],
      },
    ],
  };
}
