import type {
  KubernetesObject,
  V1Deployment,
  V1Namespace,
  V1Service,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import { mutatingWebhookConfiguration, validatingWebhookConfiguration } from '../webhook/configuration.js';
import { approverRole, operatorRbac } from './rbac.js';

export interface InstallOptions {
  namespace: string;
  operatorImage: string;
  sidecarImage: string;
  replicas?: number;
}

const NAME = 'pgwarden-operator';
const labels = { 'app.kubernetes.io/name': NAME, 'app.kubernetes.io/part-of': 'pgwarden' };

/**
 * Everything an installation needs besides the CRDs, in apply order: its
 * namespace, the operator's identity and RBAC, its Deployment (two replicas, one leader),
 * the Service the API server calls, and the webhook configurations whose
 * caBundle the operator fills in.
 */
export function operatorManifests(o: InstallOptions): KubernetesObject[] {
  const namespace: V1Namespace = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: o.namespace, labels: { 'app.kubernetes.io/part-of': 'pgwarden' } },
  };
  const serviceAccount: V1ServiceAccount = {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: NAME, namespace: o.namespace, labels },
  };
  const service: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: NAME, namespace: o.namespace, labels },
    spec: {
      selector: labels,
      ports: [{ name: 'webhook', port: 443, targetPort: 'webhook' }],
    },
  };
  const deployment: V1Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: NAME, namespace: o.namespace, labels },
    spec: {
      replicas: o.replicas ?? 2,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: NAME,
          securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'operator',
              image: o.operatorImage,
              args: ['--sidecar-image', o.sidecarImage],
              env: [{ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }],
              ports: [
                { name: 'admin', containerPort: 8080 },
                { name: 'webhook', containerPort: 9443 },
              ],
              readinessProbe: { httpGet: { path: '/readyz', port: 'admin' }, periodSeconds: 5 },
              livenessProbe: { httpGet: { path: '/healthz', port: 'admin' }, periodSeconds: 10 },
              resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } },
              securityContext: {
                readOnlyRootFilesystem: true,
                allowPrivilegeEscalation: false,
                capabilities: { drop: ['ALL'] },
              },
              // The openssl CLI writes its temporary files here.
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
            },
          ],
          volumes: [{ name: 'tmp', emptyDir: {} }],
        },
      },
    },
  };
  const webhooks = {
    name: NAME,
    operatorNamespace: o.namespace,
    target: { service: { name: NAME, namespace: o.namespace, port: 443 } },
  };
  return [
    namespace,
    serviceAccount,
    ...operatorRbac({
      namespace: o.namespace,
      serviceAccount: NAME,
      webhookConfigName: NAME,
      webhookSecret: 'pgwarden-webhook-tls',
    }),
    approverRole(),
    service,
    deployment,
    mutatingWebhookConfiguration(webhooks),
    validatingWebhookConfiguration(webhooks),
  ];
}
