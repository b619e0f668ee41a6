import { apiStatus, type KubeClients, mergePatch } from './clients.js';

/** A pgwarden resource's coordinates for CustomObjectsApi. */
export interface ResourceRef {
  group: string;
  version: string;
  plural: string;
}

export interface StoredObject<Status> {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; generation?: number; uid?: string; resourceVersion?: string };
  spec: unknown;
  status?: Status;
}

/** The object, or undefined when it is gone. */
export async function getObject<Status>(
  clients: KubeClients,
  ref: ResourceRef,
  namespace: string,
  name: string,
): Promise<StoredObject<Status> | undefined> {
  try {
    return (await clients.custom.getNamespacedCustomObject({
      ...ref,
      namespace,
      name,
    })) as StoredObject<Status>;
  } catch (error) {
    if (apiStatus(error) === 404) return undefined;
    throw error;
  }
}

/**
 * A merge patch of the status subresource: the conditions list is replaced
 * whole, and nothing outside status can be touched by it. An object deleted
 * meanwhile is not an error.
 */
export async function patchStatus(
  clients: KubeClients,
  ref: ResourceRef,
  namespace: string,
  name: string,
  status: unknown,
): Promise<void> {
  try {
    await clients.custom.patchNamespacedCustomObjectStatus(
      { ...ref, namespace, name, body: { status }, fieldManager: 'pgwarden-operator' },
      mergePatch,
    );
  } catch (error) {
    if (apiStatus(error) !== 404) throw error;
  }
}

/** Equal as JSON whatever the key order and undefined fields: "nothing to write". */
export function sameStatus(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}
