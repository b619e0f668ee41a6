import { compilePolicy, POLICY_KIND, validatePolicy } from '@pgwarden/crds';
import { usePostgres } from '@pgwarden/e2e';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { useCluster } from '../../e2e/src/control-plane/vitest.js';
import { AgentAccessPolicyController } from '../src/agent-access-policy/controller.js';
import { DatabaseConnectionController } from '../src/database-connection/controller.js';
import { kubeClients } from '../src/kube/clients.js';
import { SecretWatch } from '../src/kube/secret-watch.js';
import {
  applyObject,
  databaseConnection,
  logToStderr,
  manifestsDir as manifests,
  type StoredCondition,
  serviceAccounts,
  skewedPolicyCrd,
  waitForCrds,
} from './fixtures.js';

// The AgentAccessPolicy reconciler against a real kube-apiserver, with the
// real DatabaseConnection controller and PostgreSQL behind the connection.
//
// The AgentAccessPolicy CRD is installed with its spec schema left open (see
// skewedPolicyCrd): only then does an object the operator must refuse reach
// it, and the test can show that the operator's own validation names the
// field. The status schema is the generated one, so every status write is checked.

const ns = 'agents';

interface Stored {
  metadata: { generation: number; resourceVersion: string };
  status?: {
    observedGeneration?: number;
    compiledHash?: string;
    boundPods?: number;
    conditions?: StoredCondition[];
  };
}

const readRules = [{ name: 'reads', match: { kinds: ['read'] }, action: 'allow' }];

function policy(name: string, spec: Record<string, unknown>) {
  return {
    apiVersion: 'pgwarden.io/v1alpha1',
    kind: POLICY_KIND,
    metadata: { name, namespace: ns },
    // access is written out: the open spec schema applies no defaults.
    spec: { connection: 'orders', access: 'read-only', rules: readRules, ...spec },
  };
}

describe('AgentAccessPolicy reconciler', () => {
  const k8s = useCluster();
  const pg = usePostgres();
  const controllers: { stop(): Promise<void> }[] = [];

  const apply = (object: unknown) => applyObject(k8s(), object);
  const get = async (name: string) =>
    JSON.parse(await k8s().kubectlOk(['get', 'aap', name, '-n', ns, '-o', 'json'])) as Stored;
  const condition = (stored: Stored, type: string) => stored.status?.conditions?.find((c) => c.type === type);
  const waitFor = <T>(check: () => Promise<T>) => vi.waitFor(check, { timeout: 20_000, interval: 200 });
  /** Waits until Ready has this reason, for the current generation. */
  const waitForReady = (name: string, reason: string) =>
    waitFor(async () => {
      const stored = await get(name);
      expect(stored.status?.observedGeneration).toBe(stored.metadata.generation);
      expect(condition(stored, 'Ready')?.reason).toBe(reason);
      return stored;
    });
  const pod = (name: string, serviceAccountName: string, labels: Record<string, string> = {}) =>
    apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: ns, labels },
      spec: { serviceAccountName, containers: [{ name: 'agent', image: 'agent:1' }] },
    });
  const eventReasons = async (name: string) => {
    const list = JSON.parse(
      await k8s().kubectlOk([
        'get',
        'events',
        '-n',
        ns,
        '--field-selector',
        `involvedObject.kind=${POLICY_KIND},involvedObject.name=${name}`,
        '-o',
        'json',
      ]),
    ) as { items: { reason: string; type: string; source: { component: string } }[] };
    return list.items.map((e) => `${e.type}/${e.reason}`);
  };

  beforeAll(async () => {
    await k8s().kubectlOk(['apply', '-f', `${manifests}pgwarden.io_databaseconnections.yaml`]);
    await apply(skewedPolicyCrd());
    await waitForCrds(k8s());
    await k8s().createNamespace(ns);
    await serviceAccounts(k8s(), ns, ['analytics-agent', 'default']);
    const clients = kubeClients(k8s().kubeconfig);
    const log = logToStderr;
    const secrets = new SecretWatch(clients, log);
    const connections = new DatabaseConnectionController({ clients, secrets, backoffMs: () => 200, log });
    const policies = new AgentAccessPolicyController({ clients, backoffMs: () => 200, log });
    controllers.push(connections, policies, secrets);
    await secrets.start();
    await connections.start();
    await policies.start();
  });
  afterAll(async () => {
    await Promise.all(controllers.map((c) => c.stop()));
  });

  it('compiles with the sidecar compiler, and is Ready once its connection is', async () => {
    const document = policy('analytics', { limits: { maxRows: 100 } });
    await apply(document);
    const waiting = await waitForReady('analytics', 'ConnectionNotFound');
    const validation = validatePolicy(document, { standalone: false });
    if (!validation.ok) throw new Error('fixture policy invalid');
    const hash = compilePolicy(validation.policy).hash;
    expect(waiting.status?.compiledHash).toBe(hash);
    expect(condition(waiting, 'Compiled')).toMatchObject({ status: 'True', reason: 'Compiled' });
    expect(condition(waiting, 'Ready')).toMatchObject({
      status: 'False',
      message: 'DatabaseConnection orders not found in this namespace',
    });

    await apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'orders-role', namespace: ns },
      stringData: { username: pg().users.scram.user, password: pg().users.scram.password },
    });
    await apply(
      databaseConnection({
        namespace: ns,
        name: 'orders',
        port: pg().port,
        database: pg().database,
        secret: 'orders-role',
      }),
    );
    const ready = await waitForReady('analytics', 'Ready');
    expect(condition(ready, 'Ready')).toMatchObject({
      status: 'True',
      observedGeneration: ready.metadata.generation,
      message: 'compiled; DatabaseConnection orders is Ready',
    });
    await waitFor(async () =>
      expect(await eventReasons('analytics')).toEqual(
        expect.arrayContaining(['Normal/Compiled', 'Warning/ConnectionNotFound', 'Normal/Ready']),
      ),
    );
    const row = await k8s().kubectlOk(['get', 'aap', 'analytics', '-n', ns, '--no-headers']);
    expect(
      row
        .trim()
        .split(/\s{2,}/)
        .slice(0, 5),
    ).toEqual(['analytics', 'orders', 'read-only', 'True', '0']);
  });

  it('recompiles a new generation: new hash, observedGeneration follows', async () => {
    await apply(policy('moving', {}));
    const first = await waitForReady('moving', 'Ready');
    await apply(policy('moving', { access: 'read-write' }));
    const second = await waitFor(async () => {
      const stored = await get('moving');
      expect(stored.status?.observedGeneration).toBe(2);
      return stored;
    });
    expect(second.status?.compiledHash).toMatch(/^[0-9a-f]{64}$/);
    expect(second.status?.compiledHash).not.toBe(first.status?.compiledHash);
    expect(condition(second, 'Compiled')?.observedGeneration).toBe(2);
  });

  it('refuses an invalid spec with a message naming each field, and recovers when it is fixed', async () => {
    await apply(
      policy('broken', {
        access: 'everything',
        rules: [{ name: 'reads', match: { kinds: ['reed'] }, action: 'allow' }],
      }),
    );
    const broken = await waitForReady('broken', 'InvalidSpec');
    expect(condition(broken, 'Compiled')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    const message = condition(broken, 'Compiled')?.message ?? '';
    expect(message).toContain('spec.access:');
    expect(message).toContain('spec.rules[0].match.kinds[0]:');
    expect(broken.status?.compiledHash).toBeUndefined();
    await waitFor(async () => expect(await eventReasons('broken')).toContain('Warning/InvalidSpec'));

    await apply(policy('broken', {}));
    const fixed = await waitForReady('broken', 'Ready');
    expect(fixed.status?.compiledHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('counts the pods that match every subject field, and follows label and pod changes', async () => {
    await apply(
      policy('bound', {
        subjects: {
          serviceAccounts: ['analytics-agent'],
          podSelector: { matchExpressions: [{ key: 'role', operator: 'In', values: ['agent'] }] },
        },
      }),
    );
    await waitForReady('bound', 'Ready');
    const boundPods = async (n: number) =>
      waitFor(async () => expect((await get('bound')).status?.boundPods).toBe(n));
    await boundPods(0);
    await pod('match', 'analytics-agent', { role: 'agent' });
    await pod('wrong-account', 'default', { role: 'agent' });
    await pod('unlabelled', 'analytics-agent');
    await boundPods(1);
    await k8s().kubectlOk(['label', 'pod', 'unlabelled', '-n', ns, 'role=agent']);
    await boundPods(2);
    await k8s().kubectlOk(['delete', 'pod', 'match', '-n', ns, '--wait=false']);
    await boundPods(1);
    // A policy without subjects binds no pod, however many run in its namespace.
    expect((await get('analytics')).status?.boundPods).toBe(0);
  });
});
