import { randomBytes } from 'node:crypto';
import type { CoreV1Api } from '@kubernetes/client-node';
import type { Condition } from '@pgwarden/crds';
import { conditionTransitions } from '../reconcile/conditions.js';

export interface EventSubject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; uid?: string; resourceVersion?: string };
}

export interface EventRecord {
  type: 'Normal' | 'Warning';
  /** PascalCase, like a condition reason. */
  reason: string;
  message: string;
}

export const EVENT_SOURCE = 'pgwarden-operator';

/**
 * Records a core/v1 Event on an object (what `kubectl describe` shows). An
 * Event is a notice, not state: failing to write one is logged by the caller
 * and never fails a reconcile pass.
 */
export async function recordEvent(core: CoreV1Api, subject: EventSubject, event: EventRecord): Promise<void> {
  const { name, namespace, uid, resourceVersion } = subject.metadata;
  const now = new Date();
  await core.createNamespacedEvent({
    namespace,
    body: {
      metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace },
      involvedObject: {
        apiVersion: subject.apiVersion,
        kind: subject.kind,
        name,
        namespace,
        uid,
        resourceVersion,
      },
      type: event.type,
      reason: event.reason,
      // The API server caps an Event message at 1 KiB.
      message: event.message.length > 1024 ? `${event.message.slice(0, 1021)}...` : event.message,
      source: { component: EVENT_SOURCE },
      reportingComponent: EVENT_SOURCE,
      reportingInstance: process.env.HOSTNAME ?? EVENT_SOURCE,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    },
  });
}

/**
 * One Event per condition whose status or reason changed (Normal when it
 * became True, Warning otherwise). Failures go to onError: a lost notice must
 * not undo or repeat the status write it describes.
 */
export async function recordTransitions(
  core: CoreV1Api,
  subject: EventSubject,
  previous: readonly Condition[] | undefined,
  next: readonly Condition[],
  onError: (error: unknown) => void,
): Promise<void> {
  for (const condition of conditionTransitions(previous, next)) {
    await recordEvent(core, subject, {
      type: condition.status === 'True' ? 'Normal' : 'Warning',
      reason: condition.reason,
      message: `${condition.type}=${condition.status}: ${condition.message}`,
    }).catch(onError);
  }
}
