import type { CoreV1Api } from '@kubernetes/client-node';
import { apiStatus } from '../../kube/clients.js';

export interface SecretKeyRef {
  name: string;
  key: string;
}

export type SecretReader = (ref: SecretKeyRef) => Promise<string>;

/**
 * Reads notification secrets (HMAC keys, Slack tokens and signing secrets)
 * from the operator's namespace at each use, so a rotated Secret takes effect
 * at the next delivery. Errors name the Secret and key, never the value.
 */
export function secretReader(core: CoreV1Api, namespace: string): SecretReader {
  return async ({ name, key }) => {
    let data: Record<string, string> | undefined;
    try {
      data = (await core.readNamespacedSecret({ name, namespace })).data;
    } catch (error) {
      if (apiStatus(error) === 404) throw new Error(`Secret ${namespace}/${name} not found`);
      throw error;
    }
    const value = data?.[key];
    if (value === undefined) throw new Error(`Secret ${namespace}/${name} has no key "${key}"`);
    return Buffer.from(value, 'base64').toString('utf8').trim();
  };
}
