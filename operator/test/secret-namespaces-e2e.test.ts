import type { V1Pod } from '@kubernetes/client-node';
import { GrantRefusalSchema, GrantSchema } from '@pgwarden/crds';
import { usePostgres } from '@pgwarden/e2e';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { useControlPlane } from '../../e2e/src/control-plane/vitest.js';
import { find, type RenderedObject, renderChart } from '../../e2e/src/helm/chart.js';
import { operatorRbac } from '../src/install/rbac.js';
import {
  applyObject,
  manifestsDir,
  operatorIdentity,
  type StoredCondition,
  servedWebhooks,
  serviceAccounts,
  waitForCrds,
} from './fixtures.js';
import { boundToken, grantUrlOf, operatorCa, postGrant } from './grant-fixtures.js';
import { useOperatorProcesses } from './operator-process.js';
import { createAgentPod, optIn, ordersConnection, untilReady } from './operator-setup.js';

// --secret-namespaces on real parts: the operator as a process under the
// install RBAC made for the same list (a Role per listed namespace, no
// cluster-wide Secret read), the real kube-apiserver's RBAC, TokenRequest and
// TokenReview, PostgreSQL behind a DatabaseConnection in a listed namespace and
// one in a namespace that is not.

const operatorNs = 'pgwarden-system';
const listed = 'apps';
const unlisted = 'elsewhere';
const operatorUser = `system:serviceaccount:${operatorNs}:pgwarden-operator`;

type Rules = RenderedObject & { rules: unknown[] };

interface StoredConnection {
  metadata: { generation: number };
  status?: { observedGeneration?: number; conditions?: StoredCondition[] };
}

describe('operator restricted to --secret-namespaces', () => {
  const k8s = useControlPlane();
  const pg = usePostgres();
  let kubeconfig = '';
  const startOperator = useOperatorProcesses(() => kubeconfig);
  let serve: string[] = [];

  const ready = async (namespace: string) => {
    const stored = JSON.parse(
      await k8s().kubectlOk(['get', 'dbconn', 'orders', '-n', namespace, '-o', 'json']),
    ) as StoredConnection;
    expect(stored.status?.observedGeneration).toBe(stored.metadata.generation);
    return stored.status?.conditions?.find((c) => c.type === 'Ready');
  };
  const waitForReady = (namespace: string, reason: string) =>
    vi.waitFor(
      async () => {
        const condition = await ready(namespace);
        expect(condition?.reason).toBe(reason);
        return condition as StoredCondition;
      },
      { timeout: 30_000, interval: 250 },
    );
  /** kubectl auth can-i as the operator's service account: 'yes' or 'no'. */
  const operatorCan = async (verb: string, where: string[]) =>
    (await k8s().kubectl(['auth', 'can-i', verb, 'secrets', ...where, '--as', operatorUser])).stdout.trim();

  beforeAll(async () => {
    await k8s().kubectlOk(['apply', '-f', manifestsDir]);
    await waitForCrds(k8s());
    for (const namespace of [operatorNs, listed, unlisted]) await k8s().createNamespace(namespace);
    for (const namespace of [listed, unlisted]) {
      await optIn(k8s(), namespace);
      await serviceAccounts(k8s(), namespace, ['agent']);
    }
    kubeconfig = await operatorIdentity(k8s(), operatorNs, { secretNamespaces: [listed] });
    serve = await servedWebhooks(k8s(), operatorNs);
    await pg().psql(
      `CREATE TABLE orders (id int PRIMARY KEY); GRANT SELECT ON orders TO ${pg().users.scram.user};`,
    );
    for (const namespace of [listed, unlisted]) {
      await ordersConnection(k8s(), pg(), namespace);
      await applyObject(k8s(), {
        apiVersion: 'pgwarden.io/v1alpha1',
        kind: 'AgentAccessPolicy',
        metadata: { name: 'reads', namespace },
        spec: {
          subjects: { serviceAccounts: ['agent'] },
          connection: 'orders',
          rules: [{ name: 'reads', match: { kinds: ['read'] }, action: 'allow' }],
        },
      });
    }
  }, 180_000);

  it('a connection in a listed namespace is Ready and follows its Secret; one elsewhere is refused naming the flag, without a 403', async () => {
    const operator = await untilReady(
      await startOperator('restricted', [...serve, '--leader-elect', 'false', '--secret-namespaces', listed]),
    );

    // What the RBAC made for the list allows: Secrets in the listed namespace and, by name or
    // for notification channels, in its own; nothing cluster-wide, nothing in the other namespace.
    for (const verb of ['get', 'list', 'watch']) expect(await operatorCan(verb, ['-n', listed])).toBe('yes');
    expect(await operatorCan('get', ['-n', operatorNs])).toBe('yes');
    for (const verb of ['get', 'list', 'watch']) {
      expect(await operatorCan(verb, ['-n', unlisted])).toBe('no');
      expect(await operatorCan(verb, ['--all-namespaces'])).toBe('no');
    }

    expect((await waitForReady(listed, 'Connected')).status).toBe('True');
    const refused = await waitForReady(unlisted, 'SecretNamespaceNotAllowed');
    expect(refused.status).toBe('False');
    expect(refused.message).toBe(
      `the operator reads Secrets only in namespaces ${listed} (--secret-namespaces), not in ${unlisted}; add ${unlisted} to --secret-namespaces (chart value rbac.secretNamespaces), which also grants the read`,
    );
    const events = await k8s().kubectlOk([
      ...['get', 'events', '-n', unlisted, '--field-selector'],
      'involvedObject.kind=DatabaseConnection,involvedObject.name=orders',
      ...['-o', 'jsonpath={range .items[*]}{.type} {.reason}{"\\n"}{end}'],
    ]);
    expect(events.split('\n')).toContain('Warning SecretNamespaceNotAllowed');

    // The grant API: a pod in the listed namespace gets its credential, one in the other a refusal that says why.
    const ca = await operatorCa(k8s(), operatorNs);
    const grantUrl = grantUrlOf(serve);
    const tokenIn = async (namespace: string) => {
      const pod: V1Pod = await createAgentPod(k8s(), namespace, 'agent-1', 'agent');
      return boundToken(k8s(), pod);
    };
    const token = await tokenIn(listed);
    const issued = await postGrant(grantUrl, ca, token);
    expect(issued.status, JSON.stringify(issued.body)).toBe(200);
    const grant = GrantSchema.parse(issued.body);
    expect(grant.credential).toMatchObject({ user: pg().users.scram.user });
    const denied = await postGrant(grantUrl, ca, await tokenIn(unlisted));
    const refusal = GrantRefusalSchema.parse(denied.body);
    expect([denied.status, refusal.reason]).toEqual([403, 'connection-unavailable']);
    expect(refusal.message).toContain(`DatabaseConnection orders, which has no usable credential`);
    expect(refusal.message).toContain('--secret-namespaces');
    process.stdout.write(`grant refused outside --secret-namespaces: ${refusal.message}\n`);

    // The namespaced Secret metadata watch: a rotated password answers the sidecar's held long
    // poll with the new credential, and re-probes the connection at once (probeInterval is 1h).
    const rotate = (password: string) =>
      applyObject(k8s(), {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'orders-role', namespace: listed },
        stringData: { username: pg().users.scram.user, password },
      });
    const held = postGrant(grantUrl, ca, token, { knownVersion: grant.version, waitSeconds: 30 });
    // The poll is held once the operator has decided it; the rotation must come after that.
    await vi.waitFor(
      async () => expect(await operator.metric('pgwarden_operator_grant_long_polls')).toBe(1),
      {
        timeout: 10_000,
      },
    );
    const rotatedAt = Date.now();
    await rotate('not-the-password');
    const answer = await held;
    const rotated = GrantSchema.parse(answer.body);
    expect(rotated.version).not.toBe(grant.version);
    expect(rotated.credential).toMatchObject({ password: 'not-the-password' });
    process.stdout.write(
      `held long poll answered ${Date.now() - rotatedAt} ms after the Secret was applied\n`,
    );
    await waitForReady(listed, 'AuthenticationFailed');
    await rotate(pg().users.scram.password);
    await waitForReady(listed, 'Connected');

    // Every read it made was allowed: an RBAC refusal shows as 403 / forbidden in its log.
    expect(operator.forbidden()).toEqual([]);
  });

  it('the chart renders the same RBAC and the flag for rbac.secretNamespaces', async () => {
    const namespaces = [listed, unlisted];
    const { objects } = await renderChart(
      { 'rbac.secretNamespaces': namespaces },
      { release: 'pgwarden', namespace: operatorNs },
    );
    const generated = operatorRbac({
      namespace: operatorNs,
      serviceAccount: 'pgwarden-operator',
      webhookConfigName: 'pgwarden-operator',
      webhookSecret: 'pgwarden-operator-webhook-tls',
      secretNamespaces: namespaces,
    }) as RenderedObject[];
    // Same Roles (by kind, namespace and name) with the same rules, in any order.
    const roles = (list: readonly RenderedObject[]) =>
      new Map(
        list
          .filter(
            (o) => (o.kind === 'Role' || o.kind === 'ClusterRole') && o.metadata.name !== 'pgwarden-approver',
          )
          .map((o) => [`${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`, (o as Rules).rules]),
      );
    const chartRoles = roles(objects);
    const generatedRoles = roles(generated);
    expect([...chartRoles.keys()].sort()).toEqual([...generatedRoles.keys()].sort());
    for (const [key, rules] of generatedRoles) {
      expect(chartRoles.get(key), key).toHaveLength(rules.length);
      expect(chartRoles.get(key), key).toEqual(expect.arrayContaining(rules));
    }
    const bindings = (list: readonly RenderedObject[]) =>
      list
        .filter((o) => o.kind === 'RoleBinding')
        .map((o) => `${o.metadata.namespace}/${o.metadata.name}`)
        .sort();
    expect(bindings(objects)).toEqual(bindings(generated));
    const deployment = find(objects, 'Deployment') as RenderedObject & {
      spec: { template: { spec: { containers: { args: string[] }[] } } };
    };
    expect(deployment.spec.template.spec.containers[0]?.args).toContain(
      `--secret-namespaces=${namespaces.join(',')}`,
    );
  });
});
