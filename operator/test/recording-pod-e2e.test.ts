import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { freePort, run, type S3Server, start, startS3, type TestCluster, usePostgres } from '@pgwarden/e2e';
import nodePostgres from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { useControlPlane } from '../../e2e/src/control-plane/vitest.js';
import { CLI_MAIN, useBuiltCli } from '../../sidecar/test/support/cli.js';
import { applyObject } from './fixtures.js';
import { boundToken, grantUrlOf } from './grant-fixtures.js';
import { useOperatorProcesses } from './operator-process.js';
import { createAgentPod, ordersConnection, prepareOperatorCluster, untilReady } from './operator-setup.js';

// The recording path of an injected sidecar, on real parts: the operator (a
// process, --sidecar-recording-secret) injects the pod through the real
// kube-apiserver; then the sidecar runs as a kubelet would run the stored
// container: its args, its env resolved from the pod (values, fieldRefs, and
// the real Secret's keys), its volumes as local directories at the paths the
// env names. It records an agent's session to a real S3 server.

const operatorNs = 'pgwarden-system';
const ns = 'agents';
const bucket = 'agent-recordings';

describe('recording from an injected sidecar', () => {
  const k8s = useControlPlane();
  const pg = usePostgres();
  useBuiltCli();
  let kubeconfig = '';
  const startOperator = useOperatorProcesses(() => kubeconfig);
  let s3: S3Server;
  let dir = '';

  beforeAll(async () => {
    s3 = await startS3();
    await s3.createBucket(bucket);
    dir = await mkdtemp(join(tmpdir(), 'pgwarden-recording-pod-'));
  }, 180_000);
  afterAll(async () => {
    await s3?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the Secret named by --sidecar-recording-secret gives the sidecar its s3 credentials, and the session lands in the bucket', async () => {
    const prepared = await prepareOperatorCluster(k8s(), {
      operatorNamespace: operatorNs,
      namespace: ns,
      serviceAccounts: ['recorded-agent'],
    });
    kubeconfig = prepared.kubeconfig;
    await pg().psql(
      `CREATE TABLE orders (id int PRIMARY KEY, total numeric);
       INSERT INTO orders VALUES (1, 10), (2, 20);
       GRANT SELECT ON orders TO ${pg().users.scram.user};`,
    );
    await ordersConnection(k8s(), pg(), ns);
    await applyObject(k8s(), {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'recording-s3', namespace: ns },
      stringData: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey },
    });
    await applyObject(k8s(), {
      apiVersion: 'pgwarden.io/v1alpha1',
      kind: 'AgentAccessPolicy',
      metadata: { name: 'recorded', namespace: ns },
      spec: {
        subjects: { serviceAccounts: ['recorded-agent'] },
        connection: 'orders',
        rules: [{ name: 'reads', match: { kinds: ['read'] }, action: 'allow' }],
        recording: {
          sink: { type: 's3', bucket, endpoint: s3.endpoint, pathStyle: true, prefix: 'prod/' },
          flushInterval: '200ms',
        },
      },
    });
    await untilReady(
      await startOperator('recording', [
        ...prepared.serve,
        ...['--leader-elect', 'false', '--sidecar-grant-url', grantUrlOf(prepared.serve)],
        ...['--sidecar-recording-secret', 'recording-s3', '--sidecar-log-format', 'text'],
      ]),
    );

    // Created through the pod webhook: the stored pod is what the operator made of it.
    const pod = await createAgentPod(k8s(), ns, 'agent', 'recorded-agent');
    const sidecar = pod.spec?.initContainers?.find((c) => c.name === 'pgwarden-proxy');
    if (!sidecar) throw new Error(`the pod was not injected: ${JSON.stringify(pod.spec)}`);

    const [port, adminPort] = [await freePort(), await freePort()];
    const env = await containerEnv(k8s(), pod, sidecar, await volumesAt(k8s(), pod, sidecar, dir));
    const proxy = start(process.execPath, [CLI_MAIN, ...ownPorts(sidecar.args ?? [], port, adminPort)], {
      env: { ...withoutPgwardenEnv(), ...env },
    });
    try {
      // The container's startupProbe: the agent starts once /readyz answers 200 (a grant is held).
      const probe = sidecar.startupProbe?.httpGet?.path ?? '';
      await vi.waitFor(
        async () => {
          if (proxy.child.exitCode !== null) throw new Error(`the sidecar exited: ${proxy.stderr()}`);
          expect((await fetch(`http://127.0.0.1:${adminPort}${probe}`)).status).toBe(200);
        },
        { timeout: 30_000, interval: 100 },
      );
      const agent = new nodePostgres.Client({ connectionString: `postgresql://agent@127.0.0.1:${port}/app` });
      await agent.connect();
      expect((await agent.query('SELECT count(*)::int AS n FROM orders')).rows).toEqual([{ n: 2 }]);
      await agent.end();
    } finally {
      proxy.child.kill('SIGTERM');
    }
    expect(await proxy.exited).toBe(0);
    // --sidecar-log-format text reached it through the container's env.
    expect(proxy.stdout()).toMatch(/^\[\S+Z\] INFO: pgwarden proxy listening \{/m);
    expect(proxy.stdout()).not.toContain(s3.secretAccessKey);

    // What the bucket holds is a sealed, intact recording of that session.
    const replay = (args: string[]) =>
      run(
        process.execPath,
        [
          CLI_MAIN,
          'replay',
          `s3://${bucket}/prod/`,
          '--s3-endpoint',
          s3.endpoint,
          '--s3-path-style',
          ...args,
        ],
        { env: { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey } },
      );
    const verify = await replay(['--verify']);
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
    const transcript = await replay(['--session', 'latest']);
    expect(transcript.stdout).toContain('SELECT count(*)::int AS n FROM orders');
    process.stdout.write(`recording in the bucket, verified:\n${verify.stdout}`);
  }, 300_000);
});

/**
 * The container's environment as the kubelet builds it: values, fieldRefs from
 * the pod, secretKeyRefs from the Secret (a missing key that is not optional
 * fails the start, an optional one is left out); paths under a mount moved to
 * the local directory that stands in for it.
 */
async function containerEnv(
  k8s: TestCluster,
  pod: V1Pod,
  container: V1Container,
  mounts: ReadonlyMap<string, string>,
): Promise<Record<string, string>> {
  if (container.envFrom?.length) throw new Error(`unexpected envFrom ${JSON.stringify(container.envFrom)}`);
  const secrets = new Map<string, Record<string, string>>();
  const secretData = async (name: string) => {
    if (!secrets.has(name)) {
      const secret = JSON.parse(await k8s.kubectlOk(['get', 'secret', name, '-n', ns, '-o', 'json'])) as {
        data: Record<string, string>;
      };
      secrets.set(name, secret.data);
    }
    return secrets.get(name) as Record<string, string>;
  };
  const fields: Record<string, string | undefined> = {
    'metadata.name': pod.metadata?.name,
    'metadata.namespace': pod.metadata?.namespace,
  };
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    const field = variable.valueFrom?.fieldRef?.fieldPath;
    const secretKey = variable.valueFrom?.secretKeyRef;
    if (secretKey) {
      const encoded = (await secretData(secretKey.name ?? ''))[secretKey.key];
      if (encoded === undefined && secretKey.optional) continue;
      if (encoded === undefined) throw new Error(`Secret ${secretKey.name} has no key ${secretKey.key}`);
      env[variable.name] = Buffer.from(encoded, 'base64').toString();
      continue;
    }
    const value = field ? fields[field] : variable.value;
    if (value === undefined) throw new Error(`unsupported env ${JSON.stringify(variable)}`);
    env[variable.name] = value;
  }
  for (const [key, value] of Object.entries(env)) {
    for (const [mountPath, local] of mounts) {
      if (value.startsWith(`${mountPath}/`) || value === mountPath)
        env[key] = local + value.slice(mountPath.length);
    }
  }
  return env;
}

/**
 * A local directory per volume mount of the container, filled as the kubelet
 * would: the projected volume with a token bound to the pod and the CA from
 * its annotation, an emptyDir empty.
 */
async function volumesAt(
  k8s: TestCluster,
  pod: V1Pod,
  container: V1Container,
  root: string,
): Promise<Map<string, string>> {
  const mounts = new Map<string, string>();
  for (const mount of container.volumeMounts ?? []) {
    const local = join(root, mount.name);
    await mkdir(local);
    const volume = pod.spec?.volumes?.find((v) => v.name === mount.name);
    for (const source of volume?.projected?.sources ?? []) {
      if (source.serviceAccountToken) {
        await writeFile(join(local, source.serviceAccountToken.path), await boundToken(k8s, pod));
      }
      for (const item of source.downwardAPI?.items ?? []) {
        const annotation = /^metadata\.annotations\['(.+)'\]$/.exec(item.fieldRef?.fieldPath ?? '')?.[1];
        await writeFile(join(local, item.path), pod.metadata?.annotations?.[annotation ?? ''] ?? '');
      }
    }
    mounts.set(mount.mountPath, local);
  }
  return mounts;
}

/** The pod's network namespace is the sidecar's own; here it shares the host's, so free ports replace its fixed ones. */
function ownPorts(args: readonly string[], port: number, adminPort: number): string[] {
  return args.map((arg, i) =>
    args[i - 1] === '--listen'
      ? `127.0.0.1:${port}`
      : args[i - 1] === '--admin-listen'
        ? `127.0.0.1:${adminPort}`
        : arg,
  );
}

/** The test runner's own PGWARDEN_* must not configure the sidecar: only the container's env does. */
function withoutPgwardenEnv(): Record<string, undefined> {
  return Object.fromEntries(
    Object.keys(process.env)
      .filter((name) => name.startsWith('PGWARDEN_'))
      .map((name) => [name, undefined]),
  );
}
