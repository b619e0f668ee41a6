import { CoordinationV1Api, KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { describe, expect, it, vi } from 'vitest';
import { useCluster } from '../../e2e/src/control-plane/vitest.js';
import { applyObject, databaseConnection, manifestsDir, operatorIdentity, waitForCrds } from './fixtures.js';
import { type OperatorProcess, useOperatorProcesses } from './operator-process.js';

// Two operator processes against one kube-apiserver: one Lease, one leader,
// and only the leader reconciles. Short lease timings keep the suite quick;
// the failover times are printed, not asserted (they depend on the machine).

const ns = 'pgwarden-system';
// The webhook is another suite's subject; three replicas on one port would clash.
const lease = [
  '--webhook-listen',
  'off',
  '--namespace',
  ns,
  '--lease-duration',
  '4s',
  '--renew-deadline',
  '3s',
  '--retry-period',
  '500ms',
];

describe('leader election', () => {
  const k8s = useCluster();
  let kubeconfig = '';
  const startOperator = useOperatorProcesses(() => kubeconfig);

  const readLease = async (): Promise<V1Lease | undefined> => {
    const config = new KubeConfig();
    config.loadFromFile(k8s().kubeconfig);
    return config
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: 'pgwarden-operator', namespace: ns })
      .catch(() => undefined);
  };
  const holder = async () => (await readLease())?.spec?.holderIdentity ?? '';
  const waitForHolder = (identity: string) =>
    vi.waitFor(async () => expect(await holder()).toBe(identity), { timeout: 30_000, interval: 50 });
  const leading = (p: OperatorProcess) => p.metric('pgwarden_operator_leader');
  const reconciled = (p: OperatorProcess) =>
    p.metric('pgwarden_operator_reconcile_total', { controller: 'databaseconnection', result: 'success' });
  /** A DatabaseConnection whose Secret does not exist: any leader gives it a status at once. */
  const connection = (name: string) =>
    applyObject(
      k8s(),
      databaseConnection({ namespace: ns, name, port: 5432, database: 'app', secret: 'absent' }),
    );
  const resourceVersion = (name: string) =>
    k8s().kubectlOk(['get', 'dbconn', name, '-n', ns, '-o', 'jsonpath={.metadata.resourceVersion}']);
  /** Events on a DatabaseConnection (Reachable and Ready transitions: two per change). */
  const eventCount = async (name: string) => {
    const out = await k8s().kubectlOk([
      'get',
      'events',
      '-n',
      ns,
      '--field-selector',
      `involvedObject.kind=DatabaseConnection,involvedObject.name=${name}`,
      '-o',
      'name',
    ]);
    return out.split('\n').filter((line) => line !== '').length;
  };
  const waitForStatus = (name: string) =>
    vi.waitFor(
      async () => {
        const out = await k8s().kubectlOk([
          'get',
          'dbconn',
          name,
          '-n',
          ns,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Ready")].reason}',
        ]);
        expect(out).toBe('SecretNotFound');
      },
      { timeout: 30_000, interval: 200 },
    );

  it('elects one leader; only it reconciles; a standby takes over when the leader dies or leaves', async () => {
    await k8s().kubectlOk(['apply', '-f', manifestsDir]);
    await waitForCrds(k8s());
    await k8s().createNamespace(ns);
    kubeconfig = await operatorIdentity(k8s(), ns);

    const a = await startOperator('replica-a', lease);
    await waitForHolder('replica-a');
    const b = await startOperator('replica-b', lease);
    const c = await startOperator('replica-c', lease);
    for (const p of [a, b, c]) {
      await vi.waitFor(async () => expect((await p.admin('/readyz')).status).toBe(200), { timeout: 15_000 });
    }
    await connection('first');
    await waitForStatus('first');
    // Events follow the status write.
    await vi.waitFor(async () => expect(await eventCount('first')).toBe(2));
    const before = { version: await resourceVersion('first'), events: await eventCount('first') };
    await vi.waitFor(async () => expect(await reconciled(a)).toBeGreaterThan(0));
    expect(await leading(a)).toBe(1);
    for (const standby of [b, c]) {
      expect(await leading(standby)).toBe(0);
      expect(await reconciled(standby)).toBe(0);
    }
    expect(await holder()).toBe('replica-a');
    expect((await b.admin('/healthz')).status).toBe(200);
    expect((await b.admin('/metrics')).body).toContain('pgwarden_operator_process_cpu_seconds_total');

    // SIGKILL: no release, so a standby must wait for the lease to expire.
    const killedAt = performance.now();
    a.child.kill('SIGKILL');
    await vi.waitFor(async () => expect(['replica-b', 'replica-c']).toContain(await holder()), {
      timeout: 30_000,
      interval: 50,
    });
    const afterKillMs = performance.now() - killedAt;
    const next = (await holder()) === 'replica-b' ? b : c;
    const last = next === b ? c : b;
    await vi.waitFor(async () => expect(await leading(next)).toBe(1), { timeout: 10_000, interval: 50 });
    await connection('second');
    await waitForStatus('second');
    // The new leader reconciled both; for 'first' it found nothing new, so no
    // write and no second round of Events (no duplicate side effects).
    await vi.waitFor(async () => expect(await reconciled(next)).toBeGreaterThanOrEqual(2));
    expect(await resourceVersion('first')).toBe(before.version);
    expect(await eventCount('first')).toBe(before.events);
    expect(await reconciled(last)).toBe(0);
    expect((await readLease())?.spec?.leaseTransitions).toBe(1);

    // SIGTERM: the leader stops reconciling, hands the lease back and exits 0.
    const terminatedAt = performance.now();
    next.child.kill('SIGTERM');
    await waitForHolder(last.identity);
    const afterTermMs = performance.now() - terminatedAt;
    expect(await next.exited).toBe(0);
    expect(next.logs().map((l) => l.msg)).toEqual(expect.arrayContaining(['stopped-leading', 'shut down']));
    await vi.waitFor(async () => expect(await leading(last)).toBe(1), { timeout: 10_000, interval: 50 });
    await connection('third');
    await waitForStatus('third');
    expect(await reconciled(last)).toBeGreaterThan(0);

    for (const p of [a, b, c]) expect(p.forbidden()).toEqual([]);
    process.stdout.write(
      `leader failover: ${Math.round(afterKillMs)} ms after SIGKILL (lease 4s, retry 500ms), ` +
        `${Math.round(afterTermMs)} ms after SIGTERM (lease released)\n`,
    );
  });
});
