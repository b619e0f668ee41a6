import type {
  AdmissionregistrationV1WebhookClientConfig,
  V1MutatingWebhook,
  V1MutatingWebhookConfiguration,
  V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { API_GROUP, API_VERSION, QUERY_APPROVAL_PLURAL } from '@pgwarden/crds';
import { MUTATE_APPROVALS_PATH, MUTATE_PODS_PATH, VALIDATE_POLICIES_PATH } from './admission.js';
import { INJECT_ENABLED, INJECT_KEY } from './inject.js';

export interface WebhookConfigurationOptions {
  name: string;
  operatorNamespace: string;
  /** A Service in the cluster, or a URL (https://127.0.0.1:port when the API server runs beside the operator). */
  target: { service: { name: string; namespace: string; port: number } } | { url: string };
  timeoutSeconds?: number;
}

const labels = { 'app.kubernetes.io/part-of': 'pgwarden' };

function clientConfig(
  target: WebhookConfigurationOptions['target'],
  path: string,
): AdmissionregistrationV1WebhookClientConfig {
  return 'url' in target ? { url: `${target.url}${path}` } : { service: { ...target.service, path } };
}

/**
 * The MutatingWebhookConfiguration the operator serves (what an installation
 * applies; the operator only fills in caBundle). Scoped to opted-in
 * namespaces, never kube-system or the operator's own, so failurePolicy Fail
 * makes pgwarden mandatory exactly where it was asked for: with the operator
 * down, pods there are refused, and everything else is unaffected.
 */
export function mutatingWebhookConfiguration(o: WebhookConfigurationOptions): V1MutatingWebhookConfiguration {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: o.name, labels },
    webhooks: [
      {
        name: 'pods.inject.pgwarden.io',
        clientConfig: clientConfig(o.target, MUTATE_PODS_PATH),
        rules: [
          {
            apiGroups: [''],
            apiVersions: ['v1'],
            operations: ['CREATE'],
            resources: ['pods'],
            scope: 'Namespaced',
          },
          {
            apiGroups: [''],
            apiVersions: ['v1'],
            operations: ['UPDATE'],
            resources: ['pods/ephemeralcontainers'],
            scope: 'Namespaced',
          },
        ],
        namespaceSelector: {
          matchLabels: { [INJECT_KEY]: INJECT_ENABLED },
          matchExpressions: [
            {
              key: 'kubernetes.io/metadata.name',
              operator: 'NotIn',
              values: ['kube-system', o.operatorNamespace],
            },
          ],
        },
        failurePolicy: 'Fail',
        matchPolicy: 'Equivalent',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: o.timeoutSeconds ?? 5,
        reinvocationPolicy: 'IfNeeded',
      },
      approvalDecisionWebhook(o),
    ],
  };
}

/**
 * Decisions on QueryApprovals: the approver's identity stamped from the
 * request, the decision rules applied (see approval/decision-review.ts).
 * failurePolicy Fail: with the operator down nobody can decide, and nothing
 * is decided unchecked; a held statement then waits or fails as undecided.
 */
function approvalDecisionWebhook(o: WebhookConfigurationOptions): V1MutatingWebhook {
  return {
    name: 'queryapprovals.decide.pgwarden.io',
    clientConfig: clientConfig(o.target, MUTATE_APPROVALS_PATH),
    rules: [
      {
        apiGroups: [API_GROUP],
        apiVersions: [API_VERSION],
        operations: ['CREATE', 'UPDATE'],
        resources: [QUERY_APPROVAL_PLURAL, `${QUERY_APPROVAL_PLURAL}/status`],
        scope: 'Namespaced',
      },
    ],
    failurePolicy: 'Fail',
    matchPolicy: 'Equivalent',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    timeoutSeconds: o.timeoutSeconds ?? 5,
    reinvocationPolicy: 'Never',
  };
}

/**
 * The ValidatingWebhookConfiguration for AgentAccessPolicies. failurePolicy
 * Ignore: with the operator down a policy can still be changed or fixed (no
 * deadlock), and nothing fails open, because a policy that does not compile
 * is reported Compiled=False by the reconciler and never enforced.
 */
export function validatingWebhookConfiguration(
  o: WebhookConfigurationOptions,
): V1ValidatingWebhookConfiguration {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: o.name, labels },
    webhooks: [
      {
        name: 'agentaccesspolicies.validate.pgwarden.io',
        clientConfig: clientConfig(o.target, VALIDATE_POLICIES_PATH),
        rules: [
          {
            apiGroups: [API_GROUP],
            apiVersions: [API_VERSION],
            operations: ['CREATE', 'UPDATE'],
            resources: ['agentaccesspolicies'],
            scope: 'Namespaced',
          },
        ],
        failurePolicy: 'Ignore',
        matchPolicy: 'Equivalent',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: o.timeoutSeconds ?? 5,
      },
    ],
  };
}
