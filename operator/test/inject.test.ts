import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { decideInjection, type InjectionContext, type JsonPatchOp } from '../src/webhook/inject.js';

// The pure decision and patch; the webhook suite shows the API server applying them.

const settings: InjectionContext['settings'] = {
  image: 'pgwarden/sidecar:test',
  mode: 'native',
  resources: {},
  grantUrl: 'https://op/grants',
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
    ]);
    expect(patch[0]).toMatchObject({ value: { name: 'PGHOST', value: '127.0.0.1' } });
  });

  it('falls back to a regular container where native sidecars are not available', () => {
    const patch = patchOf(pod(), context({ settings: { ...settings, mode: 'container' } }));
    const sidecar = patch.find((op) => op.path === '/spec/containers/-');
    expect(sidecar).toMatchObject({ value: { name: 'pgwarden-proxy' } });
    expect((sidecar as { value: { restartPolicy?: string } }).value.restartPolicy).toBeUndefined();
    expect(patch.some((op) => op.path.startsWith('/spec/initContainers'))).toBe(false);
  });
});
