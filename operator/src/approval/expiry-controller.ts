import { type KubernetesObject, makeInformer } from '@kubernetes/client-node';
import { type ApprovalRecord, currentRecord } from '@pgwarden/crds';
import type { KubeClients } from '../kube/clients.js';
import { keepWatching } from '../kube/watch.js';
import type { PendingApprovals } from '../process/metrics.js';
import { type LoopOptions, type Outcome, ReconcileLoop } from '../reconcile/loop.js';
import { ApprovalConflict, type ApprovalObjects } from './approval-objects.js';
import { QUERY_APPROVAL_REF, type QueryApproval, toRecord } from './query-approval.js';

export interface ExpiryControllerOptions extends LoopOptions {
  clients: KubeClients;
  objects: ApprovalObjects;
  /** How long a request is kept once nothing can happen to it any more. */
  retentionMs: number;
  now?: () => number;
}

/**
 * On the leader: a QueryApproval still Pending at its expiresAt becomes
 * Expired, at that time (each new request is requeued for its expiry), so the
 * queue shows what nobody decided. Sidecars do not wait for this write: they
 * treat a pending request past expiresAt as expired already. A request nothing
 * can happen to any more (decided or expired, past expiresAt and validUntil)
 * is deleted once --approval-retention has passed since then.
 */
export class ApprovalExpiryController {
  readonly #loop: ReconcileLoop;
  readonly #informer;
  readonly #watch: { stop(): Promise<void> };

  constructor(private readonly options: ExpiryControllerOptions) {
    this.#loop = new ReconcileLoop('queryapproval-expiry', (ns, name) => this.#reconcile(ns, name), options);
    const { config, custom } = options.clients;
    const { group, version, plural } = QUERY_APPROVAL_REF;
    this.#informer = makeInformer<KubernetesObject>(
      config,
      `/apis/${group}/${version}/${plural}`,
      () => custom.listClusterCustomObject(QUERY_APPROVAL_REF) as never,
    );
    this.#loop.watchSpecs(this.#informer);
    this.#watch = keepWatching(this.#informer, (error, retryInMs) =>
      this.#loop.log('watch-error', { resource: plural, retryInMs, error: String(error) }),
    );
  }

  start(): Promise<void> {
    return this.#informer.start();
  }

  /** The requests waiting for a decision, by namespace, from the cache (for the pending-approval gauges). */
  pendingByNamespace(): Map<string, PendingApprovals> {
    const now = (this.options.now ?? Date.now)();
    const byNamespace = new Map<string, PendingApprovals>();
    for (const object of this.#informer.list() as QueryApproval[]) {
      const record = currentRecord(toRecord(object), now);
      if (record.status.phase !== 'Pending') continue;
      const ageSeconds = Math.max(0, (now - Date.parse(record.request.createdAt)) / 1000);
      const namespace = object.metadata.namespace;
      const pending = byNamespace.get(namespace) ?? { count: 0, oldestAgeSeconds: 0 };
      byNamespace.set(namespace, {
        count: pending.count + 1,
        oldestAgeSeconds: Math.max(pending.oldestAgeSeconds, ageSeconds),
      });
    }
    return byNamespace;
  }

  async stop(): Promise<void> {
    await this.#watch.stop();
    await this.#loop.stop();
  }

  async #reconcile(namespace: string, name: string): Promise<Outcome> {
    const now = (this.options.now ?? Date.now)();
    const object = await this.options.objects.get(namespace, name);
    if (!object) return { kind: 'forget' };
    const record = toRecord(object);
    if (record.status.phase === 'Pending') {
      const untilExpiry = Date.parse(object.spec.expiresAt) - now;
      if (untilExpiry > 0) return later(untilExpiry);
      try {
        await this.options.objects.update(namespace, name, (current) => {
          if (current.status.phase !== 'Pending')
            throw new ApprovalConflict(409, `${name} was decided meanwhile`);
          return { ...current.status, phase: 'Expired' };
        });
        this.#loop.log('approval-expired', { namespace, name, expiresAt: object.spec.expiresAt });
      } catch (error) {
        if (!(error instanceof ApprovalConflict)) throw error;
      }
      return later(this.options.retentionMs);
    }
    const untilDeletion = settledAt(record) + this.options.retentionMs - now;
    if (untilDeletion > 0) return later(untilDeletion);
    await this.options.objects.remove(namespace, name, object.metadata.resourceVersion);
    this.#loop.log('approval-deleted', { namespace, name, phase: record.status.phase });
    return { kind: 'forget' };
  }
}

/** When nothing could happen to a decided request any more: its expiry, validity, decision and last run all past. */
function settledAt({ request, status }: ApprovalRecord): number {
  const times = [
    request.expiresAt,
    status.validUntil,
    status.decidedAt,
    ...status.executions.map((e) => e.at),
  ];
  return Math.max(...times.filter((t): t is string => t !== null).map((t) => Date.parse(t)));
}

/** Timers longer than this are not set: a timer past 2^31 ms fires at once; the object is looked at again then. */
const MAX_REQUEUE_MS = 3_600_000;

function later(ms: number): Outcome {
  return { kind: 'requeue', afterMs: Math.min(ms, MAX_REQUEUE_MS) };
}
