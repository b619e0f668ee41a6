import type { V1Pod } from '@kubernetes/client-node';
import type { Log } from '../reconcile/loop.js';
import type { Review, Reviewer } from './admission.js';
import { decideInjection, type InjectionContext } from './inject.js';
import { ephemeralExposure } from './sidecar-integrity.js';

/**
 * The mutating webhook on pod CREATE. Only namespaces that require pgwarden
 * reach it (the configuration's namespaceSelector), so anything it cannot
 * decide is refused by the server around it, never let through unmodified.
 */
export function podReviewer(context: (namespace: string) => InjectionContext, log?: Log): Reviewer {
  return (request) => {
    const pod = request.object as V1Pod | undefined;
    if (request.operation === 'UPDATE' && request.subResource === 'ephemeralcontainers' && pod) {
      return reviewEphemeral(pod, log);
    }
    if (request.kind?.kind !== 'Pod' || request.operation !== 'CREATE' || !pod) {
      return { verdict: { allowed: true }, result: 'skipped' };
    }
    const namespace = request.namespace ?? pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? `${pod.metadata?.generateName ?? ''}*`;
    const decision = decideInjection(pod, context(namespace));
    if (!decision.inject) {
      log?.('pod-not-injected', { namespace, pod: name, reason: decision.reason });
      if (decision.reason === 'InvalidAnnotation' || decision.reason === 'TokenExposed') {
        return {
          verdict: { allowed: false, status: { code: 400, message: decision.message } },
          result: 'refused',
        };
      }
      return { verdict: { allowed: true }, result: 'skipped' };
    }
    log?.('pod-injected', { namespace, pod: name });
    const patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
    return { verdict: { allowed: true, patchType: 'JSONPatch', patch }, result: 'injected' };
  };
}

/**
 * kubectl debug adds ephemeral containers to a running pod: one that mounts
 * the proxy's volumes or targets the proxy (sharing its processes) could read
 * its token or memory, and is refused. The grant API would revoke the pod's
 * access once it sees it, but what the container read by then would be out.
 */
function reviewEphemeral(pod: V1Pod, log?: Log): Review {
  const problem = ephemeralExposure(pod);
  if (!problem) return { verdict: { allowed: true }, result: 'allowed' };
  const { namespace = '', name = '' } = pod.metadata ?? {};
  log?.('ephemeral-container-refused', { namespace, pod: name, problem });
  return {
    verdict: {
      allowed: false,
      status: {
        code: 403,
        message: `pgwarden refuses this ephemeral container: ${problem}; only the pgwarden proxy may reach the pod's token and memory (docs/threat-model.md)`,
      },
    },
    result: 'refused',
  };
}
