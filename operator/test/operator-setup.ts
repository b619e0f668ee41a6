import type { V1Pod } from '@kubernetes/client-node';
import type { PostgresCluster, TestCluster } from '@pgwarden/e2e';
import { expect, vi } from 'vitest';
import {
  applyObject,
  databaseConnection,
  manifestsDir,
  operatorIdentity,
  servedWebhooks,
  serviceAccounts,
  waitForCrds,
} from './fixtures.js';
import type { OperatorProcess } from './operator-process.js';

// The setup every suite that runs the operator as a process against an API
// server starts with, and the agent pods its tests make.

/** Labels a namespace so the operator's pod webhook injects the proxy into its pods. */
export async function optIn(k8s: TestCluster, namespace: string): Promise<void> {
  await k8s.kubectlOk(['label', 'namespace', namespace, 'pgwarden.io/inject=enabled', '--overwrite']);
}

/**
 * The install manifests (CRDs, RBAC), the operator's namespace and its
 * identity under the install RBAC, the agents' namespace (opted in to
 * injection) with its service accounts, and both webhook configurations
 * pointing where the operator will listen. Returns the operator's kubeconfig and the flags that serve its
 * webhooks (and the grant and approval APIs, on the same listener).
 */
export async function prepareOperatorCluster(
  k8s: TestCluster,
  options: { operatorNamespace: string; namespace: string; serviceAccounts: readonly string[] },
): Promise<{ kubeconfig: string; serve: string[] }> {
  await k8s.kubectlOk(['apply', '-f', manifestsDir]);
  await waitForCrds(k8s);
  await k8s.createNamespace(options.operatorNamespace);
  await k8s.createNamespace(options.namespace);
  await optIn(k8s, options.namespace);
  await serviceAccounts(k8s, options.namespace, options.serviceAccounts);
  const kubeconfig = await operatorIdentity(k8s, options.operatorNamespace);
  const serve = await servedWebhooks(k8s, options.operatorNamespace);
  return { kubeconfig, serve };
}

/** Waits until the operator answers /readyz with 200 (watches synced, listeners up). */
export async function untilReady(operator: OperatorProcess): Promise<OperatorProcess> {
  await vi.waitFor(async () => expect((await operator.admin('/readyz')).status).toBe(200), {
    timeout: 30_000,
  });
  return operator;
}

/**
 * Waits until the operator has logged its own user name: only then do its
 * QueryApproval writes pass the decision webhook.
 */
export async function untilOperatorUserKnown(operator: OperatorProcess): Promise<OperatorProcess> {
  await vi.waitFor(() => expect(operator.logs().some((l) => l.msg === 'webhook-operator-user')).toBe(true), {
    timeout: 30_000,
  });
  return operator;
}

/**
 * An agent's pod of `serviceAccount`, as stored (with its uid): in an
 * opted-in namespace the running operator's webhook injected the proxy, as
 * the grant and approval APIs require. No kubelet runs, so it stays Pending,
 * which is all the operator looks at; its token comes from the TokenRequest
 * API (boundToken, useGrantSidecars), never a mount.
 */
export async function createAgentPod(
  k8s: TestCluster,
  namespace: string,
  name: string,
  serviceAccount: string,
  labels: Record<string, string> = {},
): Promise<V1Pod> {
  return JSON.parse(
    await k8s.kubectlOk(['create', '-f', '-', '-o', 'json'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace, labels },
        spec: {
          serviceAccountName: serviceAccount,
          automountServiceAccountToken: false,
          containers: [{ name: 'agent', image: 'agent:1' }],
        },
      }),
    }),
  ) as V1Pod;
}

/**
 * DatabaseConnection "orders" in `namespace`, reaching the test database as
 * the harness's SCRAM role through the static Secret "orders-role". The
 * tables and that role's privileges are each test's own.
 */
export async function ordersConnection(
  k8s: TestCluster,
  pg: PostgresCluster,
  namespace: string,
): Promise<void> {
  const role = pg.users.scram;
  await applyObject(k8s, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'orders-role', namespace },
    stringData: { username: role.user, password: role.password },
  });
  await applyObject(
    k8s,
    databaseConnection({
      namespace,
      name: 'orders',
      port: pg.port,
      database: pg.database,
      secret: 'orders-role',
    }),
  );
}
