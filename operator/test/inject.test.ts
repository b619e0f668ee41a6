import type { V1Container, V1Pod, V1Volume } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { decideInjection, type InjectionContext, type JsonPatchOp } from '../src/webhook/inject.js';
import { applyPatch } from './json-patch.js';

// The pure decision and patch; the webhook suite shows the API server applying them.

const settings: InjectionContext['settings'] = {
  image: 'pgwarden/sidecar:test',
  mode: 'native',
  resources: {},
  grantUrl: 'https://op/v1/grants',
  grantCaPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  imagePullSecrets: [],
  spoolSizeLimit: '1536Mi',
  recording: {},
  log: { level: 'info', format: 'json' },
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
/** The injected sidecar and the pod's volumes (the patch adds both lists whole to a pod without them). */
const injected = (p: V1Pod, overrides: Partial<InjectionContext['settings']> = {}) => {
  const patch = patchOf(p, context({ settings: { ...settings, ...overrides } }));
  const value = (path: string) =>
    patch.find((op) => op.path === path && op.op === 'add') as { value: unknown };
  return {
    patch,
    sidecar: (value('/spec/initContainers').value as V1Container[])[0] as V1Container,
    volumes: value('/spec/volumes').value as V1Volume[],
  };
};

/** The sidecar's variables read from a Secret. */
const secretEnv = (sidecar: V1Container) => (sidecar.env ?? []).filter((e) => e.valueFrom?.secretKeyRef);
/** The S3 credential keys of the recording Secret, each as its own variable; the session token optional. */
const s3Env = (secret: string) =>
  [
    ['AWS_ACCESS_KEY_ID', false],
    ['AWS_SECRET_ACCESS_KEY', false],
    ['AWS_SESSION_TOKEN', true],
  ].map(([key, optional]) => ({
    name: key,
    valueFrom: { secretKeyRef: { name: secret, key, optional } },
  }));

describe('sidecar injection decision', () => {
  it('skips protected namespaces, opted-out pods and pods that have the sidecar', () => {
    expect(decideInjection(pod(), context({ namespace: 'kube-system' }))).toEqual({
      inject: false,
      reason: 'ProtectedNamespace',
    });
    expect(decideInjection(pod({}, { 'pgwarden.io/inject': 'disabled' }), context())).toMatchObject({
      reason: 'OptedOut',
    });
    const native = pod();
    expect(decideInjection(applyPatch(native, patchOf(native)), context())).toMatchObject({
      reason: 'AlreadyInjected',
    });
    const container = pod();
    const asContainer = applyPatch(
      container,
      patchOf(container, context({ settings: { ...settings, mode: 'container' } })),
    );
    expect(decideInjection(asContainer, context())).toMatchObject({ reason: 'AlreadyInjected' });
  });

  it('refuses a pod that brings its own pgwarden-proxy, or lets another container reach the token', () => {
    const fake = pod({ initContainers: [{ name: 'pgwarden-proxy', image: 'x' }] });
    expect(decideInjection(fake, context())).toEqual({
      inject: false,
      reason: 'TokenExposed',
      message:
        "pgwarden refuses this pod: its pgwarden-proxy container runs image x, not one of pgwarden/sidecar; only the injected pgwarden proxy may hold the pod's pgwarden.io token (docs/threat-model.md)",
    });
    const mounting = pod({
      containers: [
        { name: 'agent', image: 'agent:1', volumeMounts: [{ name: 'pgwarden-token', mountPath: '/t' }] },
      ],
    });
    expect(decideInjection(mounting, context())).toMatchObject({
      reason: 'TokenExposed',
      message: expect.stringContaining(
        'container agent mounts pgwarden-token, which only the pgwarden proxy may mount',
      ),
    });
    expect(decideInjection(pod({ shareProcessNamespace: true }), context())).toMatchObject({
      reason: 'TokenExposed',
    });
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

  it("sets the pull policy only when configured, and merges pull secrets into the pod's without duplicates", () => {
    expect(injected(pod()).sidecar.imagePullPolicy).toBeUndefined();
    expect(injected(pod()).patch.some((op) => op.path.startsWith('/spec/imagePullSecrets'))).toBe(false);
    expect(injected(pod(), { imagePullPolicy: 'Always' }).sidecar.imagePullPolicy).toBe('Always');

    const pullSecrets = ['regcred', 'mirror', 'regcred'];
    expect(injected(pod(), { imagePullSecrets: pullSecrets }).patch).toContainEqual({
      op: 'add',
      path: '/spec/imagePullSecrets',
      value: [{ name: 'regcred' }, { name: 'mirror' }],
    });
    const own = pod({ imagePullSecrets: [{ name: 'team' }, { name: 'regcred' }] });
    const ops = injected(own, { imagePullSecrets: pullSecrets }).patch.filter((op) =>
      op.path.startsWith('/spec/imagePullSecrets'),
    );
    expect(ops).toEqual([{ op: 'add', path: '/spec/imagePullSecrets/-', value: { name: 'mirror' } }]);
    const all = injected(own, { imagePullSecrets: ['team'] }).patch;
    expect(all.some((op) => op.path.startsWith('/spec/imagePullSecrets'))).toBe(false);
  });

  it('bounds the spool emptyDir and passes the log level and format', () => {
    const { sidecar, volumes } = injected(pod(), {
      spoolSizeLimit: '3Gi',
      log: { level: 'debug', format: 'text' },
    });
    expect(volumes).toContainEqual({ name: 'pgwarden-spool', emptyDir: { sizeLimit: '3Gi' } });
    expect(sidecar.env).toEqual(
      expect.arrayContaining([
        { name: 'PGWARDEN_LOG_LEVEL', value: 'debug' },
        { name: 'PGWARDEN_LOG_FORMAT', value: 'text' },
        { name: 'PGWARDEN_SPOOL_DIR', value: '/var/lib/pgwarden/spool' },
      ]),
    );
  });

  it('gives the sidecar alone the recording Secret as env and the recording claim at the documented path', () => {
    const none = injected(pod());
    expect(none.sidecar.env?.filter((e) => e.valueFrom?.secretKeyRef)).toEqual([]);
    expect(none.volumes.map((v) => v.name)).toEqual(['pgwarden-token', 'pgwarden-spool']);

    const recording = { secretName: 'recording-s3', claimName: 'recordings' };
    const { patch, sidecar, volumes } = injected(pod(), { recording });
    expect(secretEnv(sidecar)).toEqual(s3Env('recording-s3'));
    // Never the whole Secret: another key (NODE_OPTIONS) would run code beside the token.
    expect(sidecar.envFrom).toBeUndefined();
    expect(sidecar.volumeMounts).toContainEqual({
      name: 'pgwarden-recordings',
      mountPath: '/var/lib/pgwarden/recordings',
    });
    expect(volumes).toContainEqual({
      name: 'pgwarden-recordings',
      persistentVolumeClaim: { claimName: 'recordings' },
    });
    // The agent's containers get neither.
    expect(JSON.stringify(patch.filter((op) => op.path.startsWith('/spec/containers/')))).not.toMatch(
      /recording/,
    );
  });

  it('lets a pod name its own recording Secret and claim, or none with an empty annotation', () => {
    const defaults = { recording: { secretName: 'recording-s3', claimName: 'recordings' } };
    const chosen = injected(
      pod({}, { 'pgwarden.io/recording-secret': 'team-s3', 'pgwarden.io/recording-claim': 'team-pvc' }),
      defaults,
    );
    expect(secretEnv(chosen.sidecar)).toEqual(s3Env('team-s3'));
    expect(chosen.volumes).toContainEqual({
      name: 'pgwarden-recordings',
      persistentVolumeClaim: { claimName: 'team-pvc' },
    });
    const without = injected(
      pod({}, { 'pgwarden.io/recording-secret': '', 'pgwarden.io/recording-claim': '' }),
      defaults,
    );
    expect(secretEnv(without.sidecar)).toEqual([]);
    expect(without.sidecar.volumeMounts?.map((m) => m.name)).toEqual(['pgwarden-token', 'pgwarden-spool']);
    expect(without.volumes.map((v) => v.name)).toEqual(['pgwarden-token', 'pgwarden-spool']);
    // An annotation alone is enough: no default needed.
    const only = injected(pod({}, { 'pgwarden.io/recording-secret': 'team-s3' }));
    expect(secretEnv(only.sidecar)).toEqual(s3Env('team-s3'));
  });

  it('refuses a pod whose recording annotation names nothing Kubernetes could find, saying what to write', () => {
    const decision = decideInjection(
      pod({}, { 'pgwarden.io/recording-secret': 'S3_Creds', 'pgwarden.io/recording-claim': 'ok-claim' }),
      context(),
    );
    expect(decision).toEqual({
      inject: false,
      reason: 'InvalidAnnotation',
      message: expect.stringContaining(
        'pgwarden cannot inject this pod: annotation pgwarden.io/recording-secret: "S3_Creds" is not a valid name',
      ),
    });
    expect((decision as { message: string }).message).toContain(
      'name a Secret in this namespace, or "" for none',
    );
    expect((decision as { message: string }).message).not.toContain('recording-claim');
  });
});
