import { type KubernetesObject, makeInformer } from '@kubernetes/client-node';
import type { KubeClients } from '../kube/clients.js';
import { keepWatching } from '../kube/watch.js';
import { type LoopOptions, type Outcome, ReconcileLoop } from '../reconcile/loop.js';
import { ApprovalConflict, type ApprovalObjects } from './approval-objects.js';
import { QUERY_APPROVAL_REF, toRecord } from './query-approval.js';

export interface ExpiryControllerOptions extends LoopOptions {
  clients: KubeClients;
  objects: ApprovalObjects;
  now?: () => number;
}

/**
 * On the leader: a QueryApproval still Pending at its expiresAt becomes
 * Expired, at that time (each new request is requeued for its expiry), so the
 * queue shows what nobody decided. Sidecars do not wait for this write: they
 * treat a pending request past expiresAt as expired already.
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

  async stop(): Promise<void> {
    await this.#watch.stop();
    await this.#loop.stop();
  }

  async #reconcile(namespace: string, name: string): Promise<Outcome> {
    const now = (this.options.now ?? Date.now)();
    const object = await this.options.objects.get(namespace, name);
    if (!object || toRecord(object).status.phase !== 'Pending') return { kind: 'forget' };
    const untilExpiry = Date.parse(object.spec.expiresAt) - now;
    if (untilExpiry > 0) return { kind: 'requeue', afterMs: untilExpiry };
    try {
      await this.options.objects.update(namespace, name, (record) => {
        if (record.status.phase !== 'Pending')
          throw new ApprovalConflict(409, `${name} was decided meanwhile`);
        return { ...record.status, phase: 'Expired' };
      });
      this.#loop.log('approval-expired', { namespace, name, expiresAt: object.spec.expiresAt });
    } catch (error) {
      if (!(error instanceof ApprovalConflict)) throw error;
    }
    return { kind: 'forget' };
  }
}
