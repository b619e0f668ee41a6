import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, vi } from 'vitest';
import { itUnless, useCluster } from '../../e2e/src/control-plane/vitest.js';
import { issueCertificates, type WebhookCertificates } from '../src/webhook/certificates.js';
import {
  applyObject,
  noWebhookHost,
  operatorIdentity,
  servedWebhooks,
  serviceAccounts,
  webhookHost,
} from './fixtures.js';
import { type OperatorProcess, useOperatorProcesses } from './operator-process.js';

// --webhook-cert-mode external, as the chart runs it with certMode certManager:
// the test plays cert-manager (writes the kubernetes.io/tls Secret) and
// cainjector (sets caBundle); the operator runs as a process with the install
// RBAC of that mode and must serve exactly that certificate, follow its
// changes, and never write the Secret or the caBundle.

const operatorNs = 'pgwarden-system';
const secretName = 'pgwarden-webhook-tls';

describe('webhook certificates from someone else (--webhook-cert-mode external)', () => {
  const k8s = useCluster();
  let kubeconfig = '';
  const startOperator = useOperatorProcesses(() => kubeconfig);

  /** The Secret as cert-manager writes it; a field left undefined is left out. */
  const writeSecret = (data: { 'tls.crt'?: string; 'tls.key'?: string; 'ca.crt'?: string }) =>
    applyObject(k8s(), {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secretName, namespace: operatorNs },
      type: 'kubernetes.io/tls',
      // kubectl apply removes a key the previous apply had and this one leaves out.
      data: Object.fromEntries(
        Object.entries(data)
          .filter(([, pem]) => pem !== undefined)
          .map(([key, pem]) => [key, b64(pem as string)]),
      ),
    });
  const asSecret = (c: WebhookCertificates) => ({ 'tls.crt': c.cert, 'tls.key': c.key, 'ca.crt': c.caCert });
  const caBundles = async () =>
    (
      await Promise.all(
        ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration'].map((kind) =>
          k8s().kubectlOk([
            'get',
            kind,
            'pgwarden-operator',
            '-o',
            'jsonpath={.webhooks[*].clientConfig.caBundle}',
          ]),
        ),
      )
    ).join(' ');
  /** What cainjector does: every webhook's caBundle set to the CA. */
  const injectCa = async (caCert: string) => {
    for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
      const config = JSON.parse(await k8s().kubectlOk(['get', kind, 'pgwarden-operator', '-o', 'json'])) as {
        webhooks: { clientConfig: { caBundle?: string } }[];
      };
      const patch = config.webhooks.map((_, i) => ({
        op: 'add',
        path: `/webhooks/${i}/clientConfig/caBundle`,
        value: b64(caCert),
      }));
      await k8s().kubectlOk(['patch', kind, 'pgwarden-operator', '--type=json', '-p', JSON.stringify(patch)]);
    }
  };
  const failures = (operator: OperatorProcess) =>
    operator
      .logs()
      .filter((l) => l.msg === 'webhook-tls-check-failed')
      .map((l) => String(l.error));
  const createPod = async (name: string) =>
    JSON.parse(
      await k8s().kubectlOk(['create', '-f', '-', '-o', 'json'], {
        input: JSON.stringify({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name, namespace: 'agents' },
          spec: {
            serviceAccountName: 'agent',
            automountServiceAccountToken: false,
            containers: [{ name: 'agent', image: 'agent:1' }],
          },
        }),
      }),
    ) as V1Pod;

  itUnless(webhookHost() === undefined ? noWebhookHost : undefined)(
    'waits not-ready for a usable Secret, serves exactly its certificate, follows its changes, leaves caBundle alone',
    async () => {
      await k8s().createNamespace(operatorNs);
      await k8s().createNamespace('agents');
      await serviceAccounts(k8s(), 'agents', ['agent']);
      await k8s().kubectlOk(['label', 'namespace', 'agents', 'pgwarden.io/inject=enabled']);
      kubeconfig = await operatorIdentity(k8s(), operatorNs, { webhookCertMode: 'external' });
      const serve = await servedWebhooks(k8s(), operatorNs);
      const [host, port] = (serve[serve.indexOf('--webhook-listen') + 1] ?? '').split(/:(?=\d+$)/);
      const hostName = webhookHost() as string;
      // The webhook's certificate as a new TLS connection sees it.
      const servedFingerprint = () =>
        new Promise<string>((resolve, reject) => {
          const socket = connect({ host, port: Number(port), rejectUnauthorized: false });
          socket.once('secureConnect', () => {
            resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
            socket.end();
          });
          socket.once('error', reject);
        });
      const fingerprint = (c: WebhookCertificates) => new X509Certificate(c.cert).fingerprint256;

      // Started before cert-manager has written anything: not ready, one clear error.
      const operator = await startOperator('external-tls', [
        ...serve,
        // An hour between periodic checks: what follows is the Secret's watch at work.
        ...['--webhook-cert-mode', 'external', '--webhook-check-interval', '1h'],
        ...['--sidecar-image', 'pgwarden/sidecar:e2e', '--leader-elect', 'false'],
      ]);
      await vi.waitFor(() => expect(failures(operator)).toHaveLength(1), { timeout: 30_000 });
      expect(failures(operator)[0]).toBe(
        `webhook Secret ${operatorNs}/${secretName} does not exist: with --webhook-cert-mode external, ` +
          'cert-manager (or whoever issues the certificate) writes tls.crt, tls.key and ca.crt there; the ' +
          `operator serves them once they are usable (kubectl describe certificate -n ${operatorNs} tells why ` +
          'cert-manager has not issued it yet)',
      );
      expect((await operator.admin('/readyz')).status).toBe(503);
      await expect(servedFingerprint()).rejects.toThrow(/handshake failure/);

      // Broken Secrets, each named for what is wrong, still not ready.
      const first = await issueCertificates([hostName], { days: 30 });
      const other = await issueCertificates([hostName], { days: 30 });
      await writeSecret({ ...asSecret(first), 'tls.key': other.key });
      await vi.waitFor(
        () => expect(failures(operator).at(-1)).toContain('tls.key is not the key of tls.crt'),
        {
          timeout: 30_000,
        },
      );
      await writeSecret({ 'tls.crt': first.cert, 'tls.key': first.key });
      await vi.waitFor(() => expect(failures(operator).at(-1)).toContain(`has no ca.crt: it needs tls.crt`), {
        timeout: 30_000,
      });
      await writeSecret({ ...asSecret(first), 'ca.crt': other.caCert });
      await vi.waitFor(() => expect(failures(operator).at(-1)).toContain('tls.crt is not issued by ca.crt'), {
        timeout: 30_000,
      });
      expect((await operator.admin('/readyz')).status).toBe(503);
      // Each reported once, however many checks (at the start, on each watch event) found it.
      expect(new Set(failures(operator)).size).toBe(failures(operator).length);
      process.stdout.write(`errors while not ready:\n${failures(operator).join('\n')}\n`);

      // Usable: ready, serving exactly it. The caBundle is cainjector's (here the test's) to set.
      expect((await caBundles()).trim()).toBe('');
      await injectCa(first.caCert);
      const readyFrom = performance.now();
      await writeSecret(asSecret(first));
      await vi.waitFor(async () => expect((await operator.admin('/readyz')).status).toBe(200), {
        timeout: 30_000,
        interval: 50,
      });
      process.stdout.write(
        `ready ${(performance.now() - readyFrom).toFixed(0)} ms after the Secret was written (kubectl included)\n`,
      );
      expect(await servedFingerprint()).toBe(fingerprint(first));
      // The pods' grant CA is the Secret's ca.crt; the API server reached the webhook over TLS with the caBundle.
      const pod = await createPod('agent-1');
      expect(pod.metadata?.annotations?.['pgwarden.io/grant-ca']).toBe(first.caCert);
      expect(pod.spec?.initContainers?.map((c) => c.name)).toContain('pgwarden-proxy');

      // Renewed with a new CA (cainjector follows): new connections see the new certificate, new pods the new CA.
      const second = await issueCertificates([hostName], { days: 30 });
      await injectCa(second.caCert);
      const injected = await caBundles();
      const renewedFrom = performance.now();
      await writeSecret(asSecret(second));
      await vi.waitFor(async () => expect(await servedFingerprint()).toBe(fingerprint(second)), {
        timeout: 30_000,
        interval: 50,
      });
      process.stdout.write(
        `renewal served ${(performance.now() - renewedFrom).toFixed(0)} ms after the Secret was replaced\n`,
      );
      expect(operator.logs().map((l) => l.msg)).toContain('webhook-certificate-reloaded');
      const renewedPod = await createPod('agent-2');
      expect(renewedPod.metadata?.annotations?.['pgwarden.io/grant-ca']).toBe(second.caCert);

      // Broken while serving: reported, the last good certificate keeps serving, still ready.
      await writeSecret({ ...asSecret(second), 'tls.key': other.key });
      await vi.waitFor(
        () =>
          expect(
            operator
              .logs()
              .filter((l) => l.msg === 'webhook-tls-check-failed')
              .at(-1),
          ).toMatchObject({
            error: expect.stringContaining('tls.key is not the key of tls.crt'),
            serving: true,
          }),
        { timeout: 30_000 },
      );
      expect((await operator.admin('/readyz')).status).toBe(200);
      expect(await servedFingerprint()).toBe(fingerprint(second));

      // Never issued, never patched: the caBundle is still what the test set.
      const events = operator.logs().map((l) => l.msg);
      expect(events).not.toContain('webhook-certificate-issued');
      expect(events).not.toContain('webhook-cabundle-patched');
      expect(await caBundles()).toBe(injected);
      // The mode's RBAC: read the Secret, write nothing of the webhook's.
      const can = async (...args: string[]) =>
        (
          await k8s().kubectl([
            'auth',
            'can-i',
            ...args,
            `--as=system:serviceaccount:${operatorNs}:pgwarden-operator`,
          ])
        ).stdout.trim();
      expect(await can('get', `secrets/${secretName}`, '-n', operatorNs)).toBe('yes');
      expect(await can('update', `secrets/${secretName}`, '-n', operatorNs)).toBe('no');
      expect(await can('create', 'secrets', '-n', operatorNs)).toBe('no');
      expect(await can('update', 'mutatingwebhookconfigurations/pgwarden-operator')).toBe('no');
      expect(operator.forbidden()).toEqual([]);
    },
  );
});

const b64 = (text: string) => Buffer.from(text).toString('base64');
