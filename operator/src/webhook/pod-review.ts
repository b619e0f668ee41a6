import type { V1Pod } from '@kubernetes/client-node';
import type { Log } from '../reconcile/loop.js';
import type { Reviewer } from './admission.js';
import { decideInjection, type InjectionContext } from './inject.js';

/**
 * The mutating webhook on pod CREATE. Only namespaces that require pgwarden
 * reach it (the configuration's namespaceSelector), so anything it cannot
 * decide is refused by the server around it, never let through unmodified.
 */
export function podReviewer(context: (namespace: string) => InjectionContext, log?: Log): Reviewer {
  return (request) => {
    const pod = request.object as V1Pod | undefined;
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
