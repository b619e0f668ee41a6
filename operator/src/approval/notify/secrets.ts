import type { CoreV1Api } from '@kubernetes/client-node';
import { apiStatus } from '../../kube/clients.js';

export interface SecretKeyRef {
  name: string;
  key: string;
}

export type SecretReader = (ref: SecretKeyRef) => Promise<string>;

/** How long a value read is used before it is read again: a rotated Secret takes effect within this. */
export const SECRET_CACHE_MS = 30_000;

/**
 * Reads notification secrets (HMAC keys, Slack tokens and signing secrets)
 * from the operator's namespace, each kept for SECRET_CACHE_MS: the Slack
 * endpoint is public, and unauthenticated requests must not turn into API
 * server reads one for one. Errors name the Secret and key, never the value;
 * failures are not cached.
 */
export function secretReader(core: CoreV1Api, namespace: string, now: () => number = Date.now): SecretReader {
  const cache = new Map<string, { value: string; until: number }>();
  return async ({ name, key }) => {
    const id = `${name}/${key}`;
    const cached = cache.get(id);
    if (cached && cached.until > now()) return cached.value;
    let data: Record<string, string> | undefined;
    try {
      data = (await core.readNamespacedSecret({ name, namespace })).data;
    } catch (error) {
      if (apiStatus(error) === 404) throw new Error(`Secret ${namespace}/${name} not found`);
      throw error;
    }
    const encoded = data?.[key];
    if (encoded === undefined) throw new Error(`Secret ${namespace}/${name} has no key "${key}"`);
    const value = Buffer.from(encoded, 'base64').toString('utf8').trim();
    cache.set(id, { value, until: now() + SECRET_CACHE_MS });
    return value;
  };
}
