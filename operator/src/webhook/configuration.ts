import type {
  AdmissionregistrationV1WebhookClientConfig,
  V1MutatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { MUTATE_PODS_PATH } from './admission.js';
import { INJECT_ENABLED, INJECT_KEY } from './inject.js';

/**
 * The MutatingWebhookConfiguration the operator serves (what the Helm chart
 * installs; the operator only fills in caBundle). Scoped to opted-in
 * namespaces, never kube-system or the operator's own, so failurePolicy Fail
 * makes pgwarden mandatory exactly where it was asked for: with the operator
 * down, pods there are refused, and everything else is unaffected.
 */
export function mutatingWebhookConfiguration(options: {
  name: string;
  operatorNamespace: string;
  /** A Service in the cluster, or a URL (https://127.0.0.1:port when the API server runs beside the operator). */
  target: { service: { name: string; namespace: string; port: number } } | { url: string };
  timeoutSeconds?: number;
}): V1MutatingWebhookConfiguration {
  const clientConfig: AdmissionregistrationV1WebhookClientConfig =
    'url' in options.target
      ? { url: `${options.target.url}${MUTATE_PODS_PATH}` }
      : { service: { ...options.target.service, path: MUTATE_PODS_PATH } };
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: options.name, labels: { 'app.kubernetes.io/part-of': 'pgwarden' } },
    webhooks: [
      {
        name: 'pods.inject.pgwarden.io',
        clientConfig,
        rules: [
          {
            apiGroups: [''],
            apiVersions: ['v1'],
            operations: ['CREATE'],
            resources: ['pods'],
            scope: 'Namespaced',
          },
        ],
        namespaceSelector: {
          matchLabels: { [INJECT_KEY]: INJECT_ENABLED },
          matchExpressions: [
            {
              key: 'kubernetes.io/metadata.name',
              operator: 'NotIn',
              values: ['kube-system', options.operatorNamespace],
            },
          ],
        },
        failurePolicy: 'Fail',
        matchPolicy: 'Equivalent',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: options.timeoutSeconds ?? 5,
        reinvocationPolicy: 'IfNeeded',
      },
    ],
  };
}
