import type { JsonPatchOp } from '../src/webhook/inject.js';

/**
 * Applies the webhook's RFC 6902 operations to a copy of `document`, as the
 * API server does: enough for the add, replace and remove operations the
 * injection produces (object keys, array indices and "-").
 */
export function applyPatch<T>(document: T, patch: readonly JsonPatchOp[]): T {
  const result = structuredClone(document) as unknown;
  for (const op of patch) {
    const keys = op.path
      .split('/')
      .slice(1)
      .map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = keys.pop() as string;
    let parent = result as Record<string, unknown>;
    for (const key of keys) parent = parent[key] as Record<string, unknown>;
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (op.op === 'add') parent.splice(index, 0, structuredClone(op.value));
      else if (op.op === 'replace') parent[index] = structuredClone(op.value);
      else parent.splice(index, 1);
    } else if (op.op === 'remove') delete parent[last];
    else parent[last] = structuredClone(op.value);
  }
  return result as T;
}
