import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { useControlPlane } from '../control-plane/vitest.js';
import { installCertManagerCrds } from './cert-manager-crds.js';
import {
  CHART_DIR,
  helm,
  kubectlName,
  type RenderedObject,
  renderChart,
  setFlags,
  type ValueSet,
  waitForCrds,
} from './chart.js';
import { deploymentArgs, OPERATOR_MAIN, runChartOperator } from './chart-operator.js';

// The chart against a real kube-apiserver: its manifests through server-side
// dry-run, then a real `helm install`, with the operator run as a process
// from the Deployment's own arguments, under the chart's ServiceAccount and RBAC.

const namespace = 'pgwarden-system';
const release = 'pgwarden';
const name = 'pgwarden-operator';

// The control plane has no Prometheus Operator, so its kinds cannot be checked here.
const prometheusOperatorGroup = 'monitoring.coreos.com/v1';

const valueSets: Record<string, ValueSet> = {
  defaults: {},
  'HA, 3 replicas, monitoring on': {
    'operator.replicas': 3,
    'monitoring.serviceMonitor.enabled': true,
    'monitoring.podMonitor.enabled': true,
    'monitoring.prometheusRule.enabled': true,
  },
  'CRDs not installed, digests pinned': {
    'crds.install': false,
    'operator.image.digest': `sha256:${'0f'.repeat(32)}`,
    'sidecar.image.digest': `sha256:${'0f'.repeat(32)}`,
  },
  // Checked against cert-manager's own CRDs (installed first; no cert-manager controller runs).
  'certMode certManager': { 'webhook.certMode': 'certManager' },
  // The listed namespace must exist for its Role; the release namespace does.
  'Secrets read only in listed namespaces': { 'rbac.secretNamespaces': ['pgwarden-system'] },
};

type Webhooks = { webhooks: { clientConfig: { caBundle?: string } }[] };

describe('helm chart on a real API server', () => {
  const k8s = useControlPlane();
  let operator: ChildProcess | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
    if (operator && operator.exitCode === null && operator.signalCode === null) {
      const exited = new Promise((resolve) => operator?.once('exit', resolve));
      operator.kill('SIGKILL');
      await exited;
    }
  });

  it.each(Object.entries(valueSets))(
    'server-side dry-run accepts every object: %s',
    async (_name, values) => {
      await k8s().kubectl(['create', 'namespace', namespace]);
      if (values['webhook.certMode'] === 'certManager') await installCertManagerCrds(k8s());
      const { objects } = await renderChart(values, { release, namespace });
      const checkable = objects.filter((o) => o.apiVersion !== prometheusOperatorGroup);
      const skipped = objects.filter((o) => o.apiVersion === prometheusOperatorGroup).map(label);
      const out = await k8s().kubectlOk(['apply', '--dry-run=server', '-o', 'name', '-f', '-'], {
        input: checkable.map((o) => JSON.stringify(o)).join('\n'),
      });
      expect(out.trim().split('\n').sort()).toEqual(checkable.map(kubectlName).sort());
      process.stdout.write(
        `dry-run accepted ${checkable.length} objects` +
          (skipped.length
            ? `; not checkable without the Prometheus Operator's CRDs: ${skipped.join(', ')}\n`
            : '\n'),
      );
    },
  );

  it('helm install, the operator runs from the chart Deployment args and notifications ConfigMap under its RBAC, upgrade keeps caBundle, uninstall keeps the CRDs', async () => {
    expect(existsSync(OPERATOR_MAIN), `${OPERATOR_MAIN} missing: build first (make build)`).toBe(true);
    const kubeconfig = k8s().kubeconfig;
    // One notification channel, so the ConfigMap the chart mounts is read by the operator too.
    const values = {
      'notifications.channels': [
        {
          type: 'webhook',
          name: 'audit',
          url: 'https://hooks.example.invalid/pgwarden',
          hmacSecretRef: { name: 'pgwarden-hooks', key: 'hmac' },
        },
      ],
      // Every sidecar default set, so the operator parses each sidecar flag the chart can render.
      'sidecar.image.pullPolicy': 'IfNotPresent',
      'sidecar.imagePullSecrets': [{ name: 'regcred' }],
      'sidecar.recording': { secretName: 'recording-s3', claimName: 'recordings' },
      'sidecar.logFormat': 'text',
    };
    const install = await helm(
      [
        ...['install', release, CHART_DIR, '--namespace', namespace, '--create-namespace', '--wait=false'],
        ...setFlags(values),
      ],
      { kubeconfig },
    );
    expect(install.code, install.stderr).toBe(0);
    await waitForCrds(k8s());
    const installed = await k8s().kubectlOk([
      'get',
      'deployment,service,serviceaccount,pdb',
      '-n',
      namespace,
      '-o',
      'name',
    ]);
    expect(installed.split('\n')).toEqual(
      expect.arrayContaining([
        `deployment.apps/${name}`,
        `service/${name}`,
        `service/${name}-metrics`,
        `serviceaccount/${name}`,
        `poddisruptionbudget.policy/${name}`,
      ]),
    );

    // The Deployment's container, run here (runChartOperator); its notifications file is the
    // installed ConfigMap's content as the pod mounts it.
    const { objects } = await renderChart(values, { release, namespace });
    expect(deploymentArgs(objects)).toContain('--notifications=/etc/pgwarden/notifications/channels.yaml');
    const configMap = JSON.parse(
      await k8s().kubectlOk(['get', 'configmap', `${name}-notifications`, '-n', namespace, '-o', 'json']),
    ) as { data: Record<string, string> };
    const mounted = await mkdtemp(join(tmpdir(), 'pgwarden-chart-notifications-'));
    cleanups.push(() => rm(mounted, { recursive: true, force: true }));
    await writeFile(join(mounted, 'channels.yaml'), configMap.data['channels.yaml'] ?? '');
    await k8s().kubectlOk([
      'create',
      'secret',
      'generic',
      'pgwarden-hooks',
      '-n',
      namespace,
      '--from-literal=hmac=not-a-real-key',
    ]);
    const started = await runChartOperator(k8s(), objects, {
      namespace,
      serviceAccount: name,
      replace: { identity: 'chart-e2e', notifications: join(mounted, 'channels.yaml') },
    });
    operator = started.child;
    const { logs, adminPort, exited } = started;

    const caBundles = async () =>
      Promise.all(
        ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration'].map(async (kind) => {
          const config = JSON.parse(await k8s().kubectlOk(['get', kind, name, '-o', 'json'])) as Webhooks;
          return config.webhooks.map((w) => w.clientConfig.caBundle ?? '');
        }),
      ).then((lists) => lists.flat());
    try {
      await vi.waitFor(
        async () => {
          if (operator?.exitCode !== null) throw new Error(`operator exited ${operator?.exitCode}`);
          const bundles = await caBundles();
          expect(bundles.every((b) => b !== '')).toBe(true);
          const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
          expect(metrics).toMatch(/^pgwarden_operator_leader 1$/m);
        },
        { timeout: 45_000, interval: 250 },
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\noperator log:\n${logs.join('\n')}`);
    }
    const lease = JSON.parse(
      await k8s().kubectlOk(['get', 'lease', name, '-n', namespace, '-o', 'json']),
    ) as { spec: { holderIdentity: string } };
    expect(lease.spec.holderIdentity).toBe('chart-e2e');
    const secret = await k8s().kubectlOk([
      'get',
      'secret',
      `${name}-webhook-tls`,
      '-n',
      namespace,
      '-o',
      'name',
    ]);
    expect(secret.trim()).toBe(`secret/${name}-webhook-tls`);
    // Every permission it used was granted: an RBAC refusal shows as 403 / forbidden in its log.
    expect(logs.filter((l) => /forbidden|HTTP-Code: 403/i.test(l))).toEqual([]);

    // The webhook points at the chart's Service, which has no running pod behind it here: an
    // opted-in namespace refuses pods (failurePolicy Fail, as docs/troubleshooting.md shows),
    // any other namespace is unaffected.
    const pod = (ns: string) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'agent', namespace: ns },
        spec: { containers: [{ name: 'agent', image: 'agent:1' }] },
      });
    await k8s().kubectlOk(['create', 'namespace', 'opted-in']);
    await k8s().kubectlOk(['label', 'namespace', 'opted-in', 'pgwarden.io/inject=enabled']);
    const refused = await k8s().kubectl(['create', '-f', '-'], { input: pod('opted-in') });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('failed calling webhook "pods.inject.pgwarden.io"');
    await k8s().kubectlOk(['create', 'namespace', 'elsewhere']);
    await k8s().kubectlOk(['create', '-f', '-'], { input: pod('elsewhere') });

    const before = await caBundles();
    const upgrade = await helm(
      [
        'upgrade',
        release,
        CHART_DIR,
        '--namespace',
        namespace,
        ...setFlags({ ...values, 'operator.replicas': 3 }),
      ],
      { kubeconfig },
    );
    expect(upgrade.code, upgrade.stderr).toBe(0);
    expect(await caBundles()).toEqual(before);
    const replicas = await k8s().kubectlOk([
      'get',
      'deployment',
      name,
      '-n',
      namespace,
      '-o',
      'jsonpath={.spec.replicas}',
    ]);
    expect(replicas).toBe('3');

    operator.kill('SIGTERM');
    expect(await exited).toBe(0);
    const uninstall = await helm(['uninstall', release, '--namespace', namespace], { kubeconfig });
    expect(uninstall.code, uninstall.stderr).toBe(0);
    const crds = await k8s().kubectlOk([
      'get',
      'crd',
      '-l',
      'app.kubernetes.io/part-of=pgwarden',
      '-o',
      'name',
    ]);
    expect(crds.trim().split('\n').length).toBeGreaterThanOrEqual(2);
    const gone = await k8s().kubectl(['get', 'mutatingwebhookconfiguration', name]);
    expect(gone.stderr).toContain('NotFound');
    process.stdout.write(`after helm uninstall the CRDs stay: ${crds.trim().split('\n').join(', ')}\n`);
  });
});

function label(o: RenderedObject): string {
  return `${o.kind}/${o.metadata.name}`;
}
