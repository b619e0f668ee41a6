import { apiStatus, jsonPatch, type KubeClients, mergePatch } from './clients.js';

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

/**
 * Sets one field of the status (e.g. "/status/impact") with a JSON patch,
 * which, unlike a merge patch, keeps null values. With `resourceVersion` only
 * if the object is still at that version: the API server answers 409
 * otherwise, thrown to the caller.
 */
export async function setStatusField(
  clients: KubeClients,
  ref: ResourceRef,
  target: { namespace: string; name: string; resourceVersion?: string },
  path: `/status${string}`,
  value: unknown,
  fieldManager = 'pgwarden-operator',
): Promise<void> {
  const { namespace, name, resourceVersion } = target;
  const precondition =
    resourceVersion === undefined
      ? []
      : [{ op: 'replace', path: '/metadata/resourceVersion', value: resourceVersion }];
  await clients.custom.patchNamespacedCustomObjectStatus(
    { ...ref, namespace, name, body: [...precondition, { op: 'add', path, value }], fieldManager },
    jsonPatch,
  );
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
