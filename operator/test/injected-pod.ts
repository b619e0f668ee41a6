import type { V1Pod } from '@kubernetes/client-node';
import { decideInjection } from '../src/webhook/inject.js';
import type { ExpectedSidecar } from '../src/webhook/sidecar-integrity.js';
import { applyPatch } from './json-patch.js';

/** The sidecar settings of the unit tests' operator, as the grant and approval APIs check pods against them. */
export const TEST_SIDECAR: ExpectedSidecar = {
  image: 'ghcr.io/pgwarden/sidecar:0.1.0',
  grantUrl: 'https://pgwarden-operator.pgwarden-system.svc/v1/grants',
  grantCaPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
};

/** `pod` as the API server stores it after the pod webhook injected it with TEST_SIDECAR's settings. */
export function asInjected(pod: V1Pod): V1Pod {
  const decision = decideInjection(pod, {
    namespace: pod.metadata?.namespace ?? 'agents',
    protectedNamespaces: [],
    settings: {
      ...TEST_SIDECAR,
      mode: 'native',
      resources: {},
      imagePullSecrets: [],
      spoolSizeLimit: '1536Mi',
      recording: {},
      log: { level: 'info', format: 'json' },
    },
  });
  if (!decision.inject) throw new Error(`not injected: ${decision.reason}`);
  return applyPatch(pod, decision.patch);
}
