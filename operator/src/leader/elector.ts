import { type CoordinationV1Api, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import { apiStatus } from '../kube/clients.js';
import type { Log } from '../reconcile/loop.js';

export interface LeaderElectionOptions {
  coordination: CoordinationV1Api;
  namespace: string;
  /** The Lease's name: one per operator installation. */
  name: string;
  /** This replica's name in holderIdentity (the pod name in a cluster). */
  identity: string;
  /** How long a lease stays valid without renewal; a standby takes over only after it. */
  leaseDurationMs: number;
  /** The leader gives up when it could not renew for this long (< leaseDuration, so it stops before anyone else starts). */
  renewDeadlineMs: number;
  /** Between two attempts to acquire or renew. */
  retryPeriodMs: number;
  onStartedLeading: () => Promise<void> | void;
  onStoppedLeading: () => Promise<void> | void;
  log?: Log;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's
 * leaderelection package does it. Every write is an update with the
 * resourceVersion read (optimistic lock), so two replicas can never both
 * succeed in taking the same lease. A lease counts as expired by this
 * replica's own clock, measured from when it last saw the lease change, never
 * from renewTime: the clocks of two nodes may disagree.
 */
export class LeaderElector {
  readonly #o: LeaderElectionOptions;
  #leading = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #lastRenewed = 0;
  /** The holder and renewTime last read, and when (by our clock) they last changed. */
  #observed: { record: string; at: number } | undefined;
  #round: Promise<void> = Promise.resolve();

  constructor(options: LeaderElectionOptions) {
    this.#o = options;
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** Starts campaigning; returns at once. */
  start(): void {
    this.#schedule(0);
  }

  /** Stops campaigning; a leader stops leading and releases the lease, so a standby takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#round;
    if (!this.#leading) return;
    await this.#setLeading(false);
    await this.#release().catch((error) => this.#o.log?.('lease-release-failed', { error: String(error) }));
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#round = this.#tryAcquireOrRenew().finally(() => this.#schedule(this.#o.retryPeriodMs));
    }, delayMs);
  }

  async #tryAcquireOrRenew(): Promise<void> {
    let held: boolean;
    try {
      held = await this.#acquireOrRenew();
    } catch (error) {
      this.#o.log?.('lease-error', { error: String(error) });
      held = false;
    }
    if (this.#stopped) return;
    const now = Date.now();
    if (held) {
      this.#lastRenewed = now;
      if (!this.#leading) await this.#setLeading(true);
    } else if (this.#leading && now - this.#lastRenewed >= this.#o.renewDeadlineMs) {
      await this.#setLeading(false);
    }
  }

  /** One round: true when this replica holds the lease afterwards. */
  async #acquireOrRenew(): Promise<boolean> {
    const { coordination, namespace, name, identity } = this.#o;
    const now = new V1MicroTime();
    const leaseDurationSeconds = Math.ceil(this.#o.leaseDurationMs / 1000);
    let lease: V1Lease;
    try {
      lease = await coordination.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (apiStatus(error) !== 404) throw error;
      return this.#write(() =>
        coordination.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        }),
      );
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const record = `${holder}@${timeText(spec.renewTime)}`;
    if (this.#observed?.record !== record) this.#observed = { record, at: Date.now() };
    const durationMs = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    const expired = Date.now() >= this.#observed.at + durationMs;
    if (holder !== '' && holder !== identity && !expired) return false;
    const takingOver = holder !== identity;
    return this.#write(() =>
      coordination.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...lease,
          spec: {
            ...spec,
            holderIdentity: identity,
            leaseDurationSeconds,
            renewTime: now,
            acquireTime: takingOver ? now : spec.acquireTime,
            leaseTransitions: (spec.leaseTransitions ?? 0) + (takingOver && holder !== '' ? 1 : 0),
          },
        },
      }),
    );
  }

  /** A write that lost the race (409 Conflict: someone else wrote first) means "not ours". */
  async #write(request: () => Promise<V1Lease>): Promise<boolean> {
    try {
      const lease = await request();
      this.#observed = {
        record: `${lease.spec?.holderIdentity ?? ''}@${timeText(lease.spec?.renewTime)}`,
        at: Date.now(),
      };
      return true;
    } catch (error) {
      if (apiStatus(error) === 409) return false;
      throw error;
    }
  }

  /** Hands the lease back: no holder, so the next candidate need not wait for it to expire. */
  async #release(): Promise<void> {
    const { coordination, namespace, name, identity } = this.#o;
    const lease = await coordination.readNamespacedLease({ name, namespace });
    if (lease.spec?.holderIdentity !== identity) return;
    const { holderIdentity: _, ...spec } = lease.spec;
    await coordination.replaceNamespacedLease({
      name,
      namespace,
      body: { ...lease, spec: { ...spec, leaseDurationSeconds: 1, renewTime: new V1MicroTime() } },
    });
  }

  async #setLeading(leading: boolean): Promise<void> {
    this.#leading = leading;
    this.#o.log?.(leading ? 'leading' : 'stopped-leading', {
      identity: this.#o.identity,
      lease: this.#o.name,
    });
    try {
      await (leading ? this.#o.onStartedLeading() : this.#o.onStoppedLeading());
    } catch (error) {
      this.#o.log?.('leader-callback-failed', { leading, error: String(error) });
    }
  }
}

/** client-node types MicroTime fields as Dates but hands them over as the strings the API server sent. */
function timeText(value: unknown): string {
  return value instanceof Date ? value.toISOString() : String(value ?? '');
}
