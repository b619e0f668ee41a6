import { fileURLToPath } from 'node:url';
import { POLICY_KIND } from '@pgwarden/crds';
import { type ControlPlane, freePort } from '@pgwarden/e2e';
import { CRD_DEFINITIONS } from '../../crds/src/crd/definitions.js';
import { crdObject } from '../../crds/src/crd/manifest.js';
import { operatorRbac } from '../src/install/rbac.js';
import {
  mutatingWebhookConfiguration,
  validatingWebhookConfiguration,
} from '../src/webhook/configuration.js';

/** The generated CRDs. */
export const manifestsDir = fileURLToPath(new URL('../../crds/manifests/', import.meta.url));

/** metav1.Condition as kubectl returns it. */
export interface StoredCondition {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration: number;
}

/** `kubectl apply` of one object given as a value. */
export function applyObject(k8s: ControlPlane, object: unknown): Promise<string> {
  return k8s.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(object) });
}

/** Waits until every CRD of the project is Established (served). */
export function waitForCrds(k8s: ControlPlane): Promise<string> {
  return k8s.kubectlOk([
    'wait',
    '--for=condition=Established',
    'crd',
    '-l',
    'app.kubernetes.io/part-of=pgwarden',
  ]);
}

/** A controller's log line on stderr, where vitest shows it next to a failure. */
export function logToStderr(event: string, fields: Record<string, unknown>): void {
  process.stderr.write(`${event} ${JSON.stringify(fields)}\n`);
}

/** A DatabaseConnection to a harness Postgres on loopback, without TLS, probed hourly unless `spec` says otherwise. */
export function databaseConnection(
  target: { namespace: string; name: string; port: number; database: string; secret: string },
  spec: Record<string, unknown> = {},
) {
  return {
    apiVersion: 'pgwarden.io/v1alpha1',
    kind: 'DatabaseConnection',
    metadata: { name: target.name, namespace: target.namespace },
    spec: {
      host: '127.0.0.1',
      port: target.port,
      database: target.database,
      tls: { mode: 'disable' },
      credentials: { static: { secretRef: { name: target.secret } } },
      probeInterval: '1h',
      ...spec,
    },
  };
}

/**
 * The operator's least-privilege identity: the RBAC of the install manifests
 * bound to its service account, and a client certificate for that account's
 * user name (RBAC matches ServiceAccount subjects by it). Returns its kubeconfig.
 */
export async function operatorIdentity(k8s: ControlPlane, namespace: string): Promise<string> {
  const serviceAccount = 'pgwarden-operator';
  for (const object of operatorRbac({ namespace, serviceAccount, webhookConfigName: 'pgwarden-operator' })) {
    await applyObject(k8s, object);
  }
  const user = await k8s.mintUser({
    user: `system:serviceaccount:${namespace}:${serviceAccount}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`],
  });
  return user.kubeconfig;
}

/**
 * The AgentAccessPolicy CRD with its spec schema left open
 * (x-kubernetes-preserve-unknown-fields), as on an API server that still runs
 * an older CRD: the one way an object pgwarden must refuse gets past the API
 * server's own validation.
 */
export function skewedPolicyCrd() {
  const definition = CRD_DEFINITIONS.find((d) => d.kind === POLICY_KIND);
  if (!definition) throw new Error('no AgentAccessPolicy CRD definition');
  const crd = structuredClone(crdObject(definition)) as {
    spec: { versions: { schema: { openAPIV3Schema: { properties: Record<string, unknown> } } }[] };
  };
  for (const version of crd.spec.versions) {
    version.schema.openAPIV3Schema.properties.spec = {
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
    };
  }
  return crd;
}

/**
 * Both webhook configurations pointing at https://127.0.0.1:<free port>
 * (the API server runs beside the test), and the operator flags that serve
 * them there with a certificate for 127.0.0.1.
 */
export async function loopbackWebhooks(k8s: ControlPlane, operatorNamespace: string): Promise<string[]> {
  const port = await freePort();
  const webhooks = {
    name: 'pgwarden-operator',
    operatorNamespace,
    target: { url: `https://127.0.0.1:${port}` },
  };
  await applyObject(k8s, mutatingWebhookConfiguration(webhooks));
  await applyObject(k8s, validatingWebhookConfiguration(webhooks));
  return [
    '--namespace',
    operatorNamespace,
    '--webhook-listen',
    `127.0.0.1:${port}`,
    '--webhook-hosts',
    '127.0.0.1',
  ];
}
