import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { decideInjection, type InjectionContext, type JsonPatchOp } from '../src/webhook/inject.js';

// The pure decision and patch; the webhook suite shows the API server applying them.

const settings: InjectionContext['settings'] = {
  image: 'pgwarden/sidecar:test',
  mode: 'native',
  resources: {},
  grantUrl: 'https://op/v1/grants',
  grantCaPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
};
const context = (overrides: Partial<InjectionContext> = {}): InjectionContext => ({
  namespace: 'agents',
  protectedNamespaces: ['kube-system', 'pgwarden-system'],
  settings,
  ...overrides,
});
const pod = (spec: Partial<V1Pod['spec']> = {}, annotations?: Record<string, string>): V1Pod => ({
  metadata: { name: 'agent', annotations },
  spec: { containers: [{ name: 'agent', image: 'agent:1' }], ...spec },
});
const patchOf = (p: V1Pod, c = context()): JsonPatchOp[] => {
  const decision = decideInjection(p, c);
  if (!decision.inject) throw new Error(`not injected: ${decision.reason}`);
  return decision.patch;
};

describe('sidecar injection decision', () => {
  it('skips protected namespaces, opted-out pods and pods that have the sidecar', () => {
    expect(decideInjection(pod(), context({ namespace: 'kube-system' }))).toEqual({
      inject: false,
      reason: 'ProtectedNamespace',
    });
    expect(decideInjection(pod({}, { 'pgwarden.io/inject': 'disabled' }), context())).toMatchObject({
      reason: 'OptedOut',
    });
    const injected = pod({ initContainers: [{ name: 'pgwarden-proxy', image: 'x' }] });
    expect(decideInjection(injected, context())).toMatchObject({ reason: 'AlreadyInjected' });
    const asContainer = pod({ containers: [{ name: 'agent' }, { name: 'pgwarden-proxy' }] });
    expect(decideInjection(asContainer, context())).toMatchObject({ reason: 'AlreadyInjected' });
  });

  it('puts the native sidecar first among existing init containers and appends to existing lists', () => {
    const patch = patchOf(
      pod(
        {
          initContainers: [{ name: 'migrate' }],
          volumes: [{ name: 'data', emptyDir: {} }],
          containers: [
            {
              name: 'agent',
              env: [
                { name: 'PGHOST', value: 'prod.db' },
                { name: 'X', value: '1' },
              ],
            },
          ],
        },
        { team: 'data' },
      ),
    );
    const paths = patch.map((op) => `${op.op} ${op.path}`);
    expect(paths).toEqual([
      'replace /spec/containers/0/env/0',
      'add /spec/containers/0/env/-',
      'add /spec/containers/0/env/-',
      'add /spec/initContainers/0',
      'add /spec/volumes/-',
      'add /spec/volumes/-',
      'add /metadata/annotations/pgwarden.io~1injected',
      'add /metadata/annotations/pgwarden.io~1grant-ca',
    ]);
    expect(patch[0]).toMatchObject({ value: { name: 'PGHOST', value: '127.0.0.1' } });
  });

  it('gives the sidecar the grant URL, its token and the operator CA beside it in one projected volume', () => {
    const patch = patchOf(pod());
    const sidecar = patch.find((op) => op.path === '/spec/initContainers') as {
      value: {
        env: { name: string; value?: string }[];
        volumeMounts: { name: string; mountPath: string }[];
      }[];
    };
    const env = Object.fromEntries(sidecar.value[0]?.env.map((e) => [e.name, e.value]) ?? []);
    expect(env).toMatchObject({
      PGWARDEN_GRANT_URL: 'https://op/v1/grants',
      PGWARDEN_TOKEN_FILE: '/var/run/secrets/pgwarden.io/token',
      PGWARDEN_GRANT_CA_FILE: '/var/run/secrets/pgwarden.io/ca.crt',
    });
    expect(sidecar.value[0]?.volumeMounts).toContainEqual({
      name: 'pgwarden-token',
      mountPath: '/var/run/secrets/pgwarden.io',
      readOnly: true,
    });
    const volumes = patch.find((op) => op.path === '/spec/volumes') as { value: unknown[] };
    expect(volumes.value[0]).toEqual({
      name: 'pgwarden-token',
      projected: {
        sources: [
          { serviceAccountToken: { audience: 'pgwarden.io', expirationSeconds: 600, path: 'token' } },
          {
            downwardAPI: {
              items: [
                { path: 'ca.crt', fieldRef: { fieldPath: "metadata.annotations['pgwarden.io/grant-ca']" } },
              ],
            },
          },
        ],
      },
    });
    expect(patch).toContainEqual({
      op: 'add',
      path: '/metadata/annotations',
      value: { 'pgwarden.io/injected': settings.image, 'pgwarden.io/grant-ca': settings.grantCaPem },
    });
    // A CA the pod brings is replaced, not trusted.
    const own = patchOf(pod({}, { 'pgwarden.io/grant-ca': 'attacker CA' }));
    expect(own).toContainEqual({
      op: 'add',
      path: '/metadata/annotations/pgwarden.io~1grant-ca',
      value: settings.grantCaPem,
    });
  });

  it('falls back to a regular container where native sidecars are not available', () => {
    const patch = patchOf(pod(), context({ settings: { ...settings, mode: 'container' } }));
    const sidecar = patch.find((op) => op.path === '/spec/containers/-');
    expect(sidecar).toMatchObject({ value: { name: 'pgwarden-proxy' } });
    expect((sidecar as { value: { restartPolicy?: string } }).value.restartPolicy).toBeUndefined();
    expect(patch.some((op) => op.path.startsWith('/spec/initContainers'))).toBe(false);
  });
});
