import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { decideInjection, type InjectionContext } from '../src/webhook/inject.js';
import {
  ephemeralExposure,
  exposureBeforeInjection,
  sidecarIntegrityProblem,
} from '../src/webhook/sidecar-integrity.js';
import { applyPatch } from './json-patch.js';

// What keeps the pgwarden.io token the proxy's alone, on pods as the injection makes them.

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const settings: InjectionContext['settings'] = {
  image: 'registry.example:5000/pgwarden/sidecar:0.1.0',
  mode: 'native',
  resources: {},
  grantUrl: 'https://pgwarden-operator.pgwarden-system.svc/v1/grants',
  grantCaPem: CA,
  imagePullSecrets: [],
  spoolSizeLimit: '1536Mi',
  recording: { secretName: 'recording-s3', claimName: 'recordings' },
  log: { level: 'info', format: 'json' },
};
const expected = { image: settings.image, grantUrl: settings.grantUrl, grantCaPem: CA };

const agentPod = (spec: Partial<V1Pod['spec']> = {}): V1Pod => ({
  metadata: { name: 'agent', namespace: 'agents' },
  spec: { serviceAccountName: 'agent', containers: [{ name: 'agent', image: 'agent:1' }], ...spec },
});

/** The pod as the API server stores it after the webhook's patch. */
function injected(mode: 'native' | 'container' = 'native'): V1Pod {
  const pod = agentPod();
  const decision = decideInjection(pod, {
    namespace: 'agents',
    protectedNamespaces: [],
    settings: { ...settings, mode },
  });
  if (!decision.inject) throw new Error(decision.reason);
  return applyPatch(pod, decision.patch);
}

/** The injected pod with its proxy container changed by `change`. */
function withProxy(change: (proxy: V1Container) => void): V1Pod {
  const pod = injected();
  change(pod.spec?.initContainers?.[0] as V1Container);
  return pod;
}

describe('sidecar integrity', () => {
  it('finds nothing wrong with a pod as the webhook injected it, native or as a container, whatever the image tag', () => {
    expect(sidecarIntegrityProblem(injected('native'), expected)).toBeNull();
    expect(sidecarIntegrityProblem(injected('container'), expected)).toBeNull();
    const upgraded = { ...expected, image: 'registry.example:5000/pgwarden/sidecar:0.2.0' };
    expect(sidecarIntegrityProblem(injected(), upgraded)).toBeNull();
    const pinned = withProxy((proxy) => {
      proxy.image = 'registry.example:5000/pgwarden/sidecar@sha256:abc';
    });
    expect(sidecarIntegrityProblem(pinned, expected)).toBeNull();
  });

  it('refuses a pod without the proxy, and other containers that mount its volumes or attach to it', () => {
    expect(sidecarIntegrityProblem(agentPod(), expected)).toBe(
      'it has no pgwarden-proxy container (it was not injected by pgwarden)',
    );
    const mounting = injected();
    (mounting.spec?.containers[0] as V1Container).volumeMounts = [
      { name: 'pgwarden-token', mountPath: '/steal' },
    ];
    expect(sidecarIntegrityProblem(mounting, expected)).toBe(
      'container agent mounts pgwarden-token, which only the pgwarden proxy may mount',
    );
    const debugging = injected();
    (debugging.spec as NonNullable<V1Pod['spec']>).ephemeralContainers = [
      { name: 'debugger', image: 'busybox', targetContainerName: 'pgwarden-proxy' },
    ];
    expect(sidecarIntegrityProblem(debugging, expected)).toBe(
      'ephemeral container debugger targets pgwarden-proxy, so it shares the proxy’s processes',
    );
    const spoolReader = injected();
    (spoolReader.spec as NonNullable<V1Pod['spec']>).ephemeralContainers = [
      { name: 'reader', image: 'busybox', volumeMounts: [{ name: 'pgwarden-spool', mountPath: '/s' }] },
    ];
    expect(sidecarIntegrityProblem(spoolReader, expected)).toContain('ephemeral container reader mounts');
    const shared = injected();
    (shared.spec as NonNullable<V1Pod['spec']>).shareProcessNamespace = true;
    expect(sidecarIntegrityProblem(shared, expected)).toContain('shareProcessNamespace');
    const host = injected();
    (host.spec as NonNullable<V1Pod['spec']>).hostPID = true;
    expect(sidecarIntegrityProblem(host, expected)).toContain('hostPID');
  });

  it('refuses a proxy container that could run other code or send the token elsewhere', () => {
    const cases: [string, (proxy: V1Container) => unknown, string][] = [
      [
        'image',
        (p) => Object.assign(p, { image: 'attacker/sidecar:0.1.0' }),
        'runs image attacker/sidecar:0.1.0',
      ],
      [
        'command',
        (p) => Object.assign(p, { command: ['node', '-e', 'steal()'] }),
        'overrides the image’s command',
      ],
      ['args', (p) => p.args?.push('--log-level', 'trace'), 'has other arguments'],
      [
        'NODE_OPTIONS',
        (p) => p.env?.push({ name: 'NODE_OPTIONS', value: '--import=data:text/javascript,steal()' }),
        'sets variable NODE_OPTIONS, which pgwarden does not inject',
      ],
      [
        'grant URL',
        (p) => {
          const url = p.env?.find((e) => e.name === 'PGWARDEN_GRANT_URL');
          if (url) url.value = 'https://collector.example/v1/grants';
        },
        'sets PGWARDEN_GRANT_URL to something else',
      ],
      [
        'token file',
        (p) => {
          const file = p.env?.find((e) => e.name === 'PGWARDEN_TOKEN_FILE');
          if (file) file.value = '/tmp/token';
        },
        'sets PGWARDEN_TOKEN_FILE to something else',
      ],
      [
        'envFrom',
        (p) => Object.assign(p, { envFrom: [{ secretRef: { name: 'anything' } }] }),
        'takes variables from envFrom',
      ],
      [
        'lifecycle',
        (p) => Object.assign(p, { lifecycle: { postStart: { exec: { command: ['sh'] } } } }),
        'has lifecycle hooks',
      ],
      [
        'exec probe',
        (p) => Object.assign(p, { livenessProbe: { exec: { command: ['node', '-e', 'steal()'] } } }),
        'has an exec probe',
      ],
      [
        'extra mount',
        (p) => p.volumeMounts?.push({ name: 'scripts', mountPath: '/scripts' }),
        'mounts volume scripts',
      ],
    ];
    for (const [what, change, problem] of cases) {
      expect(sidecarIntegrityProblem(withProxy(change), expected), what).toContain(problem);
    }
    // What the proxy validates itself and cannot redirect it may differ from the operator's current settings.
    const relogged = withProxy((p) => {
      const level = p.env?.find((e) => e.name === 'PGWARDEN_LOG_LEVEL');
      if (level) level.value = 'debug';
    });
    expect(sidecarIntegrityProblem(relogged, expected)).toBeNull();
  });

  it('refuses a token volume with a CA from elsewhere, another pgwarden.io token, and a CA annotation that is not the operator’s', () => {
    const ownCa = injected();
    ownCa.spec?.volumes
      ?.find((v) => v.name === 'pgwarden-token')
      ?.projected?.sources?.push({ configMap: { name: 'my-ca', items: [{ key: 'ca', path: 'ca.crt' }] } });
    expect(sidecarIntegrityProblem(ownCa, expected)).toBe(
      "volume pgwarden-token holds more than the proxy's token and the operator's CA",
    );
    const second = injected();
    second.spec?.volumes?.push({
      name: 'spare',
      projected: { sources: [{ serviceAccountToken: { audience: 'pgwarden.io', path: 't' } }] },
    });
    expect(sidecarIntegrityProblem(second, expected)).toContain(
      'volume spare projects a service-account token for audience pgwarden.io',
    );
    const otherCa = injected();
    (otherCa.metadata?.annotations as Record<string, string>)['pgwarden.io/grant-ca'] = 'attacker CA';
    expect(sidecarIntegrityProblem(otherCa, expected)).toContain(
      "its pgwarden.io/grant-ca annotation is not the operator's CA",
    );
    // Without the annotation the proxy has no CA file content and does not start.
    const noCa = injected();
    const annotations = noCa.metadata?.annotations ?? {};
    delete annotations['pgwarden.io/grant-ca'];
    expect(sidecarIntegrityProblem(noCa, expected)).toBeNull();
  });

  it('ephemeral containers alone, as kubectl debug adds them: attached to the proxy or mounting its volumes', () => {
    const pod = injected();
    expect(ephemeralExposure(pod)).toBeNull();
    const spec = pod.spec as NonNullable<V1Pod['spec']>;
    spec.ephemeralContainers = [{ name: 'look', image: 'busybox', targetContainerName: 'agent' }];
    expect(ephemeralExposure(pod)).toBeNull();
    spec.ephemeralContainers.push({ name: 'peek', image: 'busybox', targetContainerName: 'pgwarden-proxy' });
    expect(ephemeralExposure(pod)).toBe(
      'ephemeral container peek targets pgwarden-proxy, so it shares the proxy’s processes',
    );
  });

  it('before injection: reserved volume names, a pgwarden.io token of its own, mounts of the proxy volumes', () => {
    expect(exposureBeforeInjection(agentPod())).toBeNull();
    expect(exposureBeforeInjection(agentPod({ volumes: [{ name: 'pgwarden-spool', emptyDir: {} }] }))).toBe(
      'it declares volume pgwarden-spool, a name pgwarden reserves for its proxy',
    );
    const ownToken = agentPod({
      volumes: [
        {
          name: 'tok',
          projected: { sources: [{ serviceAccountToken: { audience: 'pgwarden.io', path: 't' } }] },
        },
      ],
    });
    expect(exposureBeforeInjection(ownToken)).toContain('volume tok projects a service-account token');
    const otherAudience = agentPod({
      volumes: [
        {
          name: 'vault',
          projected: { sources: [{ serviceAccountToken: { audience: 'vault', path: 't' } }] },
        },
      ],
    });
    expect(exposureBeforeInjection(otherAudience)).toBeNull();
    const mounting = agentPod({
      initContainers: [
        { name: 'init', image: 'x', volumeMounts: [{ name: 'pgwarden-token', mountPath: '/t' }] },
      ],
    });
    expect(exposureBeforeInjection(mounting)).toBe(
      'init container init mounts pgwarden-token, which only the pgwarden proxy may mount',
    );
  });
});
