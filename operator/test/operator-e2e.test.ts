import type { V1Pod } from '@kubernetes/client-node';
import { freePort, usePostgres } from '@pgwarden/e2e';
import { describe, expect, vi } from 'vitest';
import { itUnless, reportSkippedOnExternal, useCluster } from '../../e2e/src/control-plane/vitest.js';
import {
  applyObject,
  databaseConnection,
  manifestsDir,
  noWebhookHost,
  operatorIdentity,
  type StoredCondition,
  servedWebhooks,
  serviceAccounts,
  waitForCrds,
  webhookHost,
} from './fixtures.js';
import { useOperatorProcesses } from './operator-process.js';

// The whole path as a platform team drives it, on real parts only: the
// generated CRDs, the operator as a process with its install RBAC (leader
// election on, webhooks served), PostgreSQL behind a DatabaseConnection, a
// policy, an opted-in namespace and an agent pod.

const operatorNs = 'pgwarden-system';
const ns = 'agents';

interface Stored {
  metadata: { generation: number };
  status?: {
    observedGeneration?: number;
    serverVersion?: string;
    boundPods?: number;
    conditions?: StoredCondition[];
  };
}

describe('operator end to end', () => {
  const k8s = useCluster();
  const pg = usePostgres();
  let kubeconfig = '';
  const startOperator = useOperatorProcesses(() => kubeconfig);

  const get = async (kind: string, name: string) =>
    JSON.parse(await k8s().kubectlOk(['get', kind, name, '-n', ns, '-o', 'json'])) as Stored;
  const ready = (stored: Stored) => stored.status?.conditions?.find((c) => c.type === 'Ready');
  const waitForReady = (kind: string, name: string, reason: string) =>
    vi.waitFor(
      async () => {
        const stored = await get(kind, name);
        expect(stored.status?.observedGeneration).toBe(stored.metadata.generation);
        expect(ready(stored)?.reason).toBe(reason);
        return stored;
      },
      { timeout: 30_000, interval: 250 },
    );

  itUnless(webhookHost() === undefined ? noWebhookHost : undefined)(
    'connection Ready with the server version, policy Ready, agent pod injected and bound, across an API server restart',
    async () => {
      await k8s().kubectlOk(['apply', '-f', manifestsDir]);
      await waitForCrds(k8s());
      await k8s().createNamespace(operatorNs);
      await k8s().createNamespace(ns);
      await serviceAccounts(k8s(), ns, ['analytics-agent']);
      kubeconfig = await operatorIdentity(k8s(), operatorNs);
      const serve = await servedWebhooks(k8s(), operatorNs);
      const operator = await startOperator('e2e', [
        ...serve,
        ...['--lease-duration', '4s', '--renew-deadline', '3s', '--retry-period', '500ms'],
      ]);
      await vi.waitFor(async () => expect(await operator.metric('pgwarden_operator_leader')).toBe(1), {
        timeout: 30_000,
      });

      await applyObject(k8s(), {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'orders-role', namespace: ns },
        stringData: { username: pg().users.scram.user, password: pg().users.scram.password },
      });
      const target = {
        namespace: ns,
        name: 'orders',
        port: pg().port,
        database: pg().database,
        secret: 'orders-role',
      };
      await applyObject(k8s(), databaseConnection(target));
      await k8s().kubectlOk(['apply', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'pgwarden.io/v1alpha1',
          kind: 'AgentAccessPolicy',
          metadata: { name: 'analytics', namespace: ns },
          spec: {
            subjects: { serviceAccounts: ['analytics-agent'] },
            connection: 'orders',
            rules: [{ name: 'reads', match: { kinds: ['read'] }, action: 'allow' }],
          },
        }),
      });
      const connection = await waitForReady('dbconn', 'orders', 'Connected');
      expect(connection.status?.serverVersion).toBe(await pg().psql('SHOW server_version'));
      const policy = await waitForReady('aap', 'analytics', 'Ready');
      expect(policy.status?.boundPods).toBe(0);

      await k8s().kubectlOk(['label', 'namespace', ns, 'pgwarden.io/inject=enabled']);
      const pod = JSON.parse(
        await k8s().kubectlOk(['create', '-f', '-', '-o', 'json'], {
          input: JSON.stringify({
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: 'analytics-agent', namespace: ns },
            spec: {
              serviceAccountName: 'analytics-agent',
              automountServiceAccountToken: false,
              containers: [{ name: 'agent', image: 'agent:1' }],
            },
          }),
        }),
      ) as V1Pod;
      expect(pod.spec?.initContainers?.map((c) => c.name)).toEqual(['pgwarden-proxy']);
      await vi.waitFor(async () => expect((await get('aap', 'analytics')).status?.boundPods).toBe(1), {
        timeout: 30_000,
      });

      // A connection that breaks takes the policy's readiness with it.
      await applyObject(k8s(), databaseConnection({ ...target, port: await freePort() }));
      await waitForReady('dbconn', 'orders', 'ConnectionRefused');
      const broken = await waitForReady('aap', 'analytics', 'ConnectionNotReady');
      expect(ready(broken)?.message).toContain('DatabaseConnection orders is not Ready: ConnectionRefused');
      expect(operator.forbidden()).toEqual([]);

      const local = k8s().local;
      if (!local) {
        reportSkippedOnExternal(
          'operator end to end: kube-apiserver restart under the running operator',
          'restarting kube-apiserver needs the local control plane',
        );
        return;
      }
      // The API server restarts under the running operator: its watches and its
      // Lease come back, and it picks up a change made after the restart. (A
      // freshly started API server answers 403 until its RBAC cache is filled,
      // so the log is no longer checked for refusals after this point.)
      await local.stopApiServer();
      await local.startApiServer();
      await applyObject(k8s(), databaseConnection(target));
      await waitForReady('dbconn', 'orders', 'Connected');
      await waitForReady('aap', 'analytics', 'Ready');
      expect(await operator.metric('pgwarden_operator_leader')).toBe(1);
    },
  );
});
