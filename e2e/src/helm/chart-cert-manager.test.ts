import type { ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { useControlPlane } from '../control-plane/vitest.js';
import { installCertManagerCrds } from './cert-manager-crds.js';
import { CHART_DIR, find, helm, type RenderedObject, renderChart, setFlags } from './chart.js';
import { deploymentArgs, OPERATOR_MAIN, runChartOperator } from './chart-operator.js';

// webhook.certMode certManager on a real kube-apiserver: helm install against
// cert-manager's own CRDs, then the operator run as a process from the rendered
// Deployment's arguments under the chart's RBAC for that mode. No cert-manager
// controller runs here: the test writes the Secret the chart's Certificate
// names, as cert-manager would, and nothing sets the caBundle (cainjector's job).

const namespace = 'pgwarden-cm';
const release = 'pgwarden';
const name = 'pgwarden-operator';
// With Secret reads narrowed to one namespace, the operator's only read of its own Secret is
// the Role's rule naming it: list and watch by name (a field selector) must pass RBAC too.
const values = { 'webhook.certMode': 'certManager', 'rbac.secretNamespaces': ['agents'] };
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The operator's own certificate issuing (openssl CLI), from its build, to play cert-manager. */
type Issue = (
  hosts: string[],
  options: { days: number },
) => Promise<{ caCert: string; cert: string; key: string }>;

describe('helm chart with certMode certManager on a real API server', () => {
  const k8s = useControlPlane();
  let operator: ChildProcess | undefined;
  afterAll(async () => {
    if (operator && operator.exitCode === null && operator.signalCode === null) {
      const exited = new Promise((resolve) => operator?.once('exit', resolve));
      operator.kill('SIGKILL');
      await exited;
    }
  });

  it('installs the Certificate and Issuers; the operator serves the Secret cert-manager writes, reads only it and patches no caBundle', async () => {
    expect(existsSync(OPERATOR_MAIN), `${OPERATOR_MAIN} missing: build first (make build)`).toBe(true);
    await installCertManagerCrds(k8s());
    await k8s().kubectlOk(['create', 'namespace', 'agents']);
    const install = await helm(
      [
        ...['install', release, CHART_DIR, '--namespace', namespace, '--create-namespace', '--wait=false'],
        ...setFlags(values),
      ],
      { kubeconfig: k8s().kubeconfig },
    );
    expect(install.code, install.stderr).toBe(0);
    const certificate = JSON.parse(
      await k8s().kubectlOk(['get', 'certificate', `${name}-webhook`, '-n', namespace, '-o', 'json']),
    ) as { spec: { secretName: string } };
    expect(certificate.spec.secretName).toBe(`${name}-webhook-tls`);

    // What cert-manager would write (for 127.0.0.1: the API server and this test reach the operator there).
    const { issueCertificates } = (await import(`${repoRoot}operator/dist/webhook/certificates.js`)) as {
      issueCertificates: Issue;
    };
    const issued = await issueCertificates(['127.0.0.1'], { days: 30 });
    const secret = JSON.parse(
      await k8s().kubectlOk(['apply', '-o', 'json', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: certificate.spec.secretName, namespace },
          type: 'kubernetes.io/tls',
          stringData: { 'tls.crt': issued.cert, 'tls.key': issued.key, 'ca.crt': issued.caCert },
        }),
      }),
    ) as { metadata: { resourceVersion: string } };

    // The Deployment's container, run here under the chart's RBAC (runChartOperator).
    const { objects } = await renderChart(values, { release, namespace });
    expect(deploymentArgs(objects)).toContain('--webhook-cert-mode=external');
    const clusterRole = find(objects, 'ClusterRole', name) as RenderedObject & {
      rules: { resources: string[] }[];
    };
    expect(clusterRole.rules.flatMap((r) => r.resources)).not.toContain('secrets');
    const started = await runChartOperator(k8s(), objects, {
      namespace,
      serviceAccount: name,
      replace: { identity: 'chart-cert-manager' },
    });
    operator = started.child;
    const { logs, adminPort, webhookPort, exited } = started;
    try {
      await vi.waitFor(
        async () => {
          if (operator?.exitCode !== null) throw new Error(`operator exited ${operator?.exitCode}`);
          expect((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status).toBe(200);
        },
        { timeout: 45_000, interval: 250 },
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\noperator log:\n${logs.join('\n')}`);
    }

    const served = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: webhookPort, ca: issued.caCert });
      socket.once('secureConnect', () => {
        resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
        socket.end();
      });
      socket.once('error', reject);
    });
    expect(served).toBe(new X509Certificate(issued.cert).fingerprint256);
    // Nothing written: the Secret is as the test left it, the caBundle still unset.
    const now = await k8s().kubectlOk([
      ...['get', 'secret', certificate.spec.secretName, '-n', namespace],
      ...['-o', 'jsonpath={.metadata.resourceVersion}'],
    ]);
    expect(now).toBe(secret.metadata.resourceVersion);
    for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
      const caBundles = await k8s().kubectlOk([
        ...['get', kind, name, '-o', 'jsonpath={.webhooks[*].clientConfig.caBundle}'],
      ]);
      expect(caBundles.trim()).toBe('');
    }
    // Every permission it used was granted by the chart's RBAC for this mode.
    expect(logs.filter((l) => /forbidden|HTTP-Code: 403/i.test(l))).toEqual([]);
    expect(logs.join('\n')).not.toMatch(/webhook-certificate-issued|webhook-cabundle-patched/);

    operator.kill('SIGTERM');
    expect(await exited).toBe(0);
    const uninstall = await helm(['uninstall', release, '--namespace', namespace], {
      kubeconfig: k8s().kubeconfig,
    });
    expect(uninstall.code, uninstall.stderr).toBe(0);
  });
});
