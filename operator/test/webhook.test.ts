import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { describe, expect, vi } from 'vitest';
import { itUnless, useCluster } from '../../e2e/src/control-plane/vitest.js';
import { OPERATOR_EXAMPLE } from '../src/install/generate.js';
import {
  applyObject,
  noWebhookHost,
  operatorIdentity,
  servedWebhooks,
  serviceAccounts,
  skewedPolicyCrd,
  waitForCrds,
  webhookHost,
} from './fixtures.js';
import { useOperatorProcesses } from './operator-process.js';

// The pod webhook called by the real kube-apiserver over HTTPS: the operator
// runs as a process on loopback with the RBAC of the install manifests,
// issues its own CA and serving certificate, and patches the caBundle of a
// configuration that points at it by URL.

const operatorNs = 'pgwarden-system';
const image = 'pgwarden/sidecar:e2e';

describe('admission webhooks', () => {
  const k8s = useCluster();
  let kubeconfig = '';
  const startOperator = useOperatorProcesses(() => kubeconfig);

  const createPod = (namespace: string, name: string, extra: Partial<V1Pod> = {}) =>
    k8s().kubectl(['create', '-f', '-', '-o', 'json'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace, ...extra.metadata },
        spec: {
          serviceAccountName: 'agent',
          // No API token volume on clusters that run the ServiceAccount admission plugin.
          automountServiceAccountToken: false,
          containers: [
            { name: 'agent', image: 'agent:1', env: [{ name: 'PGHOST', value: 'prod.db.internal' }] },
          ],
          ...extra.spec,
        },
      }),
    });
  const created = async (namespace: string, name: string, extra?: Partial<V1Pod>) => {
    const result = await createPod(namespace, name, extra);
    if (result.code !== 0) throw new Error(`kubectl create pod ${namespace}/${name}: ${result.stderr}`);
    return JSON.parse(result.stdout) as V1Pod;
  };
  const caBundleNow = (kind = 'mutatingwebhookconfiguration') =>
    k8s().kubectlOk([
      'get',
      kind,
      'pgwarden-operator',
      '-o',
      'jsonpath={.webhooks[0].clientConfig.caBundle}',
    ]);
  const applyPolicy = (name: string, spec: Record<string, unknown>) =>
    k8s().kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'pgwarden.io/v1alpha1',
        kind: 'AgentAccessPolicy',
        metadata: { name, namespace: 'agents' },
        spec: {
          connection: 'orders',
          access: 'read-only',
          rules: [{ name: 'reads', match: { kinds: ['read'] }, action: 'allow' }],
          ...spec,
        },
      }),
    });
  const named = (containers: V1Container[] | undefined, name: string) =>
    containers?.filter((c) => c.name === name);

  itUnless(webhookHost() === undefined ? noWebhookHost : undefined)(
    'inject pods in opted-in namespaces only, once, refuse them there while down, and validate policies',
    async () => {
      for (const ns of [operatorNs, 'agents', 'elsewhere']) {
        await k8s().createNamespace(ns);
        await serviceAccounts(k8s(), ns, ['agent']);
      }
      await k8s().kubectlOk(['label', 'namespace', 'agents', 'pgwarden.io/inject=enabled']);
      // Labelled too, but the operator's own namespace is never injected.
      await k8s().kubectlOk(['label', 'namespace', operatorNs, 'pgwarden.io/inject=enabled']);
      // The operator runs with the install manifests' RBAC, nothing more.
      kubeconfig = await operatorIdentity(k8s(), operatorNs);
      await k8s().kubectlOk(['apply', '--dry-run=server', '-f', OPERATOR_EXAMPLE]);
      const serve = await servedWebhooks(k8s(), operatorNs);
      await applyObject(k8s(), skewedPolicyCrd());
      await waitForCrds(k8s());
      const operator = await startOperator('webhook', [
        ...serve,
        ...['--sidecar-image', image, '--leader-elect', 'false'],
        // Sidecar defaults a platform team sets: the API server must accept the pod they make.
        ...['--sidecar-image-pull-secrets', 'regcred', '--sidecar-image-pull-policy', 'IfNotPresent'],
        ...['--sidecar-recording-secret', 'recording-s3', '--sidecar-recording-claim', 'recordings'],
      ]);
      await vi.waitFor(async () => expect((await operator.admin('/readyz')).status).toBe(200), {
        timeout: 30_000,
      });
      const caBundle = await caBundleNow();
      expect(operator.logs().map((l) => l.msg)).toContain('webhook-certificate-issued');
      const secretCa = await k8s().kubectlOk([
        'get',
        'secret',
        'pgwarden-webhook-tls',
        '-n',
        operatorNs,
        '-o',
        'jsonpath={.data.ca\\.crt}',
      ]);
      expect(caBundle).toBe(secretCa);
      expect(await caBundleNow('validatingwebhookconfiguration')).toBe(secretCa);

      // Injected: the stored object is what the API server kept after our patch.
      const pod = await created('agents', 'agent-1');
      const sidecar = named(pod.spec?.initContainers, 'pgwarden-proxy')?.[0];
      expect(sidecar).toMatchObject({
        image,
        restartPolicy: 'Always',
        startupProbe: { httpGet: { path: '/readyz', port: 9432 } },
        securityContext: {
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
        },
      });
      expect(sidecar?.volumeMounts?.map((m) => m.name).sort()).toEqual([
        'pgwarden-recordings',
        'pgwarden-spool',
        'pgwarden-token',
      ]);
      expect(sidecar?.imagePullPolicy).toBe('IfNotPresent');
      // The S3 keys one by one, never the whole Secret (whose other keys could set NODE_OPTIONS).
      expect(sidecar?.envFrom).toBeUndefined();
      expect(
        sidecar?.env?.filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.valueFrom?.secretKeyRef),
      ).toEqual([
        { name: 'recording-s3', key: 'AWS_ACCESS_KEY_ID', optional: false },
        { name: 'recording-s3', key: 'AWS_SECRET_ACCESS_KEY', optional: false },
        { name: 'recording-s3', key: 'AWS_SESSION_TOKEN', optional: true },
      ]);
      expect(sidecar?.env).toEqual(
        expect.arrayContaining([
          { name: 'PGWARDEN_LOG_LEVEL', value: 'info' },
          { name: 'PGWARDEN_LOG_FORMAT', value: 'json' },
        ]),
      );
      expect(pod.spec?.imagePullSecrets).toEqual([{ name: 'regcred' }]);
      expect(pod.spec?.volumes?.find((v) => v.name === 'pgwarden-recordings')?.persistentVolumeClaim).toEqual(
        {
          claimName: 'recordings',
        },
      );
      const token = pod.spec?.volumes?.find((v) => v.name === 'pgwarden-token');
      expect(token?.projected?.sources).toEqual([
        { serviceAccountToken: { audience: 'pgwarden.io', expirationSeconds: 600, path: 'token' } },
        {
          downwardAPI: {
            items: [
              {
                path: 'ca.crt',
                fieldRef: { apiVersion: 'v1', fieldPath: "metadata.annotations['pgwarden.io/grant-ca']" },
              },
            ],
          },
        },
      ]);
      // The CA the sidecar verifies the grant API with is the webhook's, from the shared Secret.
      expect(pod.metadata?.annotations?.['pgwarden.io/grant-ca']).toBe(
        Buffer.from(secretCa, 'base64').toString('utf8'),
      );
      expect(pod.spec?.volumes?.find((v) => v.name === 'pgwarden-spool')?.emptyDir).toEqual({
        sizeLimit: '1536Mi',
      });
      const agent = named(pod.spec?.containers, 'agent')?.[0];
      expect(agent?.env).toEqual([
        { name: 'PGHOST', value: '127.0.0.1' },
        { name: 'PGPORT', value: '5432' },
        { name: 'DATABASE_URL', value: 'postgresql://127.0.0.1:5432' },
      ]);
      // The token and the recording sources are the sidecar's alone: no other container has them.
      expect(pod.spec?.containers.flatMap((c) => c.volumeMounts ?? []).map((m) => m.name)).toEqual([]);
      expect(pod.spec?.containers.flatMap((c) => c.envFrom ?? [])).toEqual([]);
      expect(pod.metadata?.annotations?.['pgwarden.io/injected']).toBe(image);

      // Idempotent: a pod created from the stored one (sidecar included) is not changed again.
      const again = await created('agents', 'agent-2', {
        metadata: { annotations: pod.metadata?.annotations },
        spec: pod.spec as V1Pod['spec'],
      });
      expect(named(again.spec?.initContainers, 'pgwarden-proxy')).toHaveLength(1);
      expect(again.spec?.volumes?.filter((v) => v.name === 'pgwarden-token')).toHaveLength(1);
      expect(named(again.spec?.containers, 'agent')?.[0]?.env).toEqual(agent?.env);

      // Untouched: another namespace, an opted-out pod, the operator's namespace.
      const untouched = [
        await created('elsewhere', 'plain'),
        await created('agents', 'opted-out', {
          metadata: { annotations: { 'pgwarden.io/inject': 'disabled' } },
        }),
        await created(operatorNs, 'own'),
      ];
      for (const p of untouched) {
        expect(p.spec?.initContainers ?? []).toEqual([]);
        expect(p.spec?.containers.map((c) => c.name)).toEqual(['agent']);
        expect(p.spec?.containers[0]?.env).toEqual([{ name: 'PGHOST', value: 'prod.db.internal' }]);
      }
      // A recording annotation that names nothing valid: refused with what to write, not half-injected.
      const badAnnotation = await createPod('agents', 'bad-recording', {
        metadata: { annotations: { 'pgwarden.io/recording-secret': 'S3_Creds' } },
      });
      expect(badAnnotation.code).not.toBe(0);
      expect(badAnnotation.stderr).toContain(
        'pgwarden cannot inject this pod: annotation pgwarden.io/recording-secret: "S3_Creds" is not a valid name',
      );
      // kubectl debug: a container beside the agent is let in, one attached to the proxy is not.
      const debug = (...extra: string[]) =>
        k8s().kubectl(['debug', 'agent-1', '-n', 'agents', '--image', 'busybox:1', ...extra]);
      expect((await debug('--container=look')).code).toBe(0);
      const attached = await debug('--container=peek', '--target', 'pgwarden-proxy');
      expect(attached.code).not.toBe(0);
      expect(attached.stderr).toContain(
        'pgwarden refuses this ephemeral container: ephemeral container peek targets pgwarden-proxy',
      );
      // Something besides the proxy reaching its token: refused, with what is wrong.
      const stealing = await createPod('agents', 'stealing', {
        spec: {
          containers: [
            { name: 'agent', image: 'agent:1', volumeMounts: [{ name: 'pgwarden-token', mountPath: '/t' }] },
          ],
        },
      });
      expect(stealing.code).not.toBe(0);
      expect(stealing.stderr).toContain(
        "pgwarden refuses this pod: container agent mounts pgwarden-token, which only the pgwarden proxy may mount; only the injected pgwarden proxy may hold the pod's pgwarden.io token",
      );
      const impostor = pod.spec?.initContainers?.map((c) =>
        c.name === 'pgwarden-proxy' ? { ...c, command: ['/nodejs/bin/node', '-e', 'steal()'] } : c,
      );
      const faked = await createPod('agents', 'impostor', {
        metadata: { annotations: pod.metadata?.annotations },
        spec: { ...(pod.spec as V1Pod['spec']), initContainers: impostor } as V1Pod['spec'],
      });
      expect(faked.code).not.toBe(0);
      expect(faked.stderr).toContain('its pgwarden-proxy container overrides the image’s command');
      expect(
        await operator.metric('pgwarden_operator_webhook_reviews_total', {
          webhook: 'pods',
          result: 'injected',
        }),
      ).toBe(1);
      expect(
        await operator.metric('pgwarden_operator_webhook_reviews_total', {
          webhook: 'pods',
          result: 'skipped',
        }),
      ).toBe(2);

      // Latency under a small burst, from the operator's own summary.
      for (let i = 0; i < 20; i++) await created('agents', `burst-${i}`);
      const p50 = await operator.metric('pgwarden_operator_webhook_duration_seconds', {
        webhook: 'pods',
        quantile: '0.5',
      });
      const p99 = await operator.metric('pgwarden_operator_webhook_duration_seconds', {
        webhook: 'pods',
        quantile: '0.99',
      });
      // And as the API server saw it: its call to the webhook, TLS and network included.
      const apiserver = await k8s().kubectlOk(['get', '--raw', '/metrics']);
      const series = (suffix: string) =>
        apiserver
          .split('\n')
          .filter((l) => l.startsWith(`apiserver_admission_webhook_admission_duration_seconds_${suffix}{`))
          .filter((l) => l.includes('name="pods.inject.pgwarden.io"'))
          .reduce((total, l) => total + Number(l.split(' ').pop()), 0);
      process.stdout.write(
        `webhook latency seen by kube-apiserver: mean ${((series('sum') / series('count')) * 1000).toFixed(2)} ms over ${series('count')} calls\n`,
      );
      process.stdout.write(
        `webhook latency (operator summary, ${await operator.metric('pgwarden_operator_webhook_duration_seconds_count', { webhook: 'pods' })} reviews): ` +
          `p50 ${(p50 * 1000).toFixed(2)} ms, p99 ${(p99 * 1000).toFixed(2)} ms\n`,
      );

      // Policies: what the (here deliberately open) schema lets through, the
      // validating webhook refuses, naming each field; a valid one passes.
      const invalid = await applyPolicy('broken', {
        access: 'everything',
        rules: [{ name: 'reads', match: { kinds: ['reed'] }, action: 'allow' }],
      });
      expect(invalid.code).not.toBe(0);
      // The API server renders the webhook's causes as it renders its own validation errors.
      expect(invalid.stderr).toContain('The request is invalid:');
      expect(invalid.stderr).toContain('* spec.access: unknown access "everything"');
      expect(invalid.stderr).toContain('* spec.rules[0].match.kinds[0]: unknown kind "reed"');
      expect((await applyPolicy('fine', {})).code).toBe(0);
      // Admitted with a warning: a dir sink where an injected sidecar cannot write.
      const outside = await applyPolicy('dir-elsewhere', {
        recording: { sink: { type: 'dir', path: '/recordings' } },
      });
      expect(outside.code).toBe(0);
      expect(outside.stderr).toContain(
        'Warning: spec.recording.sink.path "/recordings": an injected sidecar writes recordings only under /var/lib/pgwarden/recordings',
      );
      const under = { recording: { sink: { type: 'dir', path: '/var/lib/pgwarden/recordings/orders' } } };
      expect((await applyPolicy('dir-on-claim', under)).stderr).toBe('');
      // ... and a spool cap the sidecar's spool volume (default 1536Mi) cannot hold.
      const big = { recording: { sink: under.recording.sink, spoolCap: '2Gi' } };
      expect((await applyPolicy('spool-too-big', big)).stderr).toContain(
        "Warning: spec.recording.spoolCap 2Gi is not below the sidecar's spool volume (1536Mi, --sidecar-spool-size-limit)",
      );
      // ... and s3 credentials under names the sidecar is not given.
      const renamed = {
        recording: {
          sink: {
            type: 's3',
            bucket: 'recs',
            credentials: { accessKeyIdEnv: 'MINIO_KEY', secretAccessKeyEnv: 'MINIO_SECRET' },
          },
        },
      };
      expect((await applyPolicy('s3-renamed', renamed)).stderr).toContain(
        'Warning: spec.recording.sink.credentials names MINIO_KEY, MINIO_SECRET: an injected sidecar gets only AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN from --sidecar-recording-secret',
      );
      expect(
        (await applyPolicy('s3-default', { recording: { sink: { type: 's3', bucket: 'recs' } } })).stderr,
      ).toBe('');
      expect(
        await operator.metric('pgwarden_operator_webhook_reviews_total', {
          webhook: 'agentaccesspolicies',
          result: 'denied',
        }),
      ).toBe(1);

      expect(operator.forbidden()).toEqual([]);

      // Fail closed: with the operator gone, opted-in namespaces refuse pods; others do not care.
      operator.child.kill('SIGTERM');
      expect(await operator.exited).toBe(0);
      const refused = await createPod('agents', 'while-down');
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('failed calling webhook "pods.inject.pgwarden.io"');
      expect((await createPod('elsewhere', 'while-down')).code).toBe(0);
      // Policies are not blocked by a missing operator (failurePolicy Ignore); the reconciler reports them.
      expect((await applyPolicy('while-down', { access: 'everything' })).code).toBe(0);

      // A restarted operator serves the stored certificates: same CA, nothing to re-patch.
      const restarted = await startOperator('webhook-2', [
        ...serve,
        ...['--sidecar-image', image, '--leader-elect', 'false', '--webhook-check-interval', '1s'],
      ]);
      await vi.waitFor(async () => expect((await restarted.admin('/readyz')).status).toBe(200), {
        timeout: 30_000,
      });
      expect(restarted.logs().map((l) => l.msg)).not.toContain('webhook-certificate-issued');
      expect(await caBundleNow()).toBe(caBundle);
      expect(
        named((await created('agents', 'after-restart')).spec?.initContainers, 'pgwarden-proxy'),
      ).toHaveLength(1);

      // Certificates lost while running: the periodic check issues new ones, re-patches
      // the caBundle and serves them without a restart.
      await k8s().kubectlOk(['delete', 'secret', 'pgwarden-webhook-tls', '-n', operatorNs]);
      await vi.waitFor(async () => expect(await caBundleNow()).not.toBe(caBundle), { timeout: 20_000 });
      await vi.waitFor(
        () => expect(restarted.logs().map((l) => l.msg)).toContain('webhook-certificate-reloaded'),
        {
          timeout: 20_000,
        },
      );
      expect(
        named((await created('agents', 'after-rotation')).spec?.initContainers, 'pgwarden-proxy'),
      ).toHaveLength(1);
      expect(restarted.forbidden()).toEqual([]);
    },
  );
});
