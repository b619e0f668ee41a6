import type { Condition } from '@pgwarden/crds';
import type { KubeClients } from '../kube/clients.js';
import { recordTransitions } from '../kube/events.js';
import { patchStatus, type ResourceRef, type StoredObject, sameStatus } from '../kube/objects.js';
import type { Log } from './loop.js';

/**
 * Writes a status computed from `object.status`, unless it is the same, and
 * then one Event per condition transition. Writing nothing when nothing
 * changed keeps a steady state from bumping resourceVersions.
 */
export async function writeStatusIfChanged<Status extends { conditions?: Condition[] }>(
  clients: KubeClients,
  ref: ResourceRef,
  object: StoredObject<Status>,
  status: Status,
  log?: Log,
): Promise<void> {
  if (sameStatus(status, object.status)) return;
  const { namespace, name } = object.metadata;
  await patchStatus(clients, ref, namespace, name, status);
  await recordTransitions(clients.core, object, object.status?.conditions, status.conditions ?? [], (error) =>
    log?.('event-error', { namespace, name, error: String(error) }),
  );
}
