import { fileURLToPath } from 'node:url';
import { POLICY_KIND } from '@pgwarden/crds';
import { externalKubeconfig, freePort, type TestCluster } from '@pgwarden/e2e';
import { expect, vi } from 'vitest';
import { CRD_DEFINITIONS } from '../../crds/src/crd/definitions.js';
import { crdObject } from '../../crds/src/crd/manifest.js';
import { operatorRbac, type RbacOptions } from '../src/install/rbac.js';
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
export function applyObject(k8s: TestCluster, object: unknown): Promise<string> {
  return k8s.kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(object) });
}

/** Waits until every CRD of the project is Established (served). */
export function waitForCrds(k8s: TestCluster): Promise<string> {
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
 * bound to its service account, and credentials for that account's user name
 * (RBAC matches ServiceAccount subjects by it): a client certificate on the
 * local control plane, the account's own token on an external cluster. Returns
 * its kubeconfig.
 */
export async function operatorIdentity(
  k8s: TestCluster,
  namespace: string,
  { webhookCertMode, secretNamespaces }: Pick<RbacOptions, 'webhookCertMode' | 'secretNamespaces'> = {},
): Promise<string> {
  const serviceAccount = 'pgwarden-operator';
  const webhook = {
    webhookConfigName: 'pgwarden-operator',
    webhookSecret: 'pgwarden-webhook-tls',
    webhookCertMode,
  };
  const objects = operatorRbac({ namespace, serviceAccount, secretNamespaces, ...webhook });
  for (const object of objects) await applyObject(k8s, object);
  const user = `system:serviceaccount:${namespace}:${serviceAccount}`;
  // The API server's authorizer learns of new RBAC objects through a watch: on a loaded machine an
  // operator started at once could meet a 403 the install would never give it.
  for (const object of objects) {
    const rule = 'rules' in object ? object.rules?.[0] : undefined;
    if (!rule) continue;
    const [resource = '', subresource = ''] = (rule.resources?.[0] ?? '').split('/');
    // A SubjectAccessReview, not kubectl auth can-i: that one needs the CRDs' discovery first.
    const review = {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user,
        resourceAttributes: {
          namespace: object.kind === 'Role' ? (object.metadata?.namespace ?? '') : '',
          verb: rule.verbs[0] ?? 'get',
          group: rule.apiGroups?.[0] ?? '',
          resource,
          subresource,
          name: rule.resourceNames?.[0] ?? '',
        },
      },
    };
    await vi.waitFor(
      async () =>
        expect(
          await k8s.kubectlOk(['create', '-f', '-', '-o', 'jsonpath={.status.allowed}'], {
            input: JSON.stringify(review),
          }),
        ).toBe('true'),
      { timeout: 30_000, interval: 100 },
    );
  }
  return k8s.kubeconfigFor({
    user,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`],
  });
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
 * The address the cluster's API server calls the webhooks at: 127.0.0.1 for
 * the local control plane (it runs beside the test); for an external cluster
 * PGWARDEN_E2E_WEBHOOK_HOST (an address of this machine the API server can
 * reach, e.g. the kind network's gateway), else undefined: the webhook steps
 * cannot run there.
 */
export function webhookHost(): string | undefined {
  if (externalKubeconfig() === undefined) return '127.0.0.1';
  return process.env.PGWARDEN_E2E_WEBHOOK_HOST || undefined;
}

/** Why the webhook steps are skipped on an external cluster without PGWARDEN_E2E_WEBHOOK_HOST. */
export const noWebhookHost =
  'the operator runs on this machine and its webhooks are served here; set PGWARDEN_E2E_WEBHOOK_HOST ' +
  "to an address of this machine the cluster's API server can reach (make e2e-kind does)";

/**
 * Both webhook configurations pointing at https://<webhookHost()>:<free port>,
 * and the operator flags that serve them there (on PGWARDEN_E2E_WEBHOOK_LISTEN
 * when set, e.g. 0.0.0.0 behind a NAT) with a certificate for that host.
 */
export async function servedWebhooks(k8s: TestCluster, operatorNamespace: string): Promise<string[]> {
  const host = webhookHost();
  if (host === undefined) throw new Error(noWebhookHost);
  const listen = process.env.PGWARDEN_E2E_WEBHOOK_LISTEN || host;
  const port = await freePort();
  const webhooks = {
    name: 'pgwarden-operator',
    operatorNamespace,
    target: { url: `https://${host.includes(':') ? `[${host}]` : host}:${port}` },
  };
  await applyObject(k8s, mutatingWebhookConfiguration(webhooks));
  await applyObject(k8s, validatingWebhookConfiguration(webhooks));
  return [
    '--namespace',
    operatorNamespace,
    '--webhook-listen',
    `${listen.includes(':') ? `[${listen}]` : listen}:${port}`,
    '--webhook-hosts',
    host,
  ];
}

/**
 * ServiceAccounts the test's pods name. The local control plane runs without
 * the ServiceAccount admission plugin; a real cluster refuses a pod whose
 * account does not exist.
 */
export async function serviceAccounts(k8s: TestCluster, namespace: string, names: readonly string[]) {
  for (const name of names) {
    await applyObject(k8s, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } });
  }
}
