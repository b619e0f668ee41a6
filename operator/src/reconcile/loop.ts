import type { Informer, KubernetesObject } from '@kubernetes/client-node';
import { WorkQueue } from './queue.js';

/** What a reconcile pass asks for next: another pass after a delay, or nothing until a watch event. */
export type Outcome = { kind: 'requeue'; afterMs: number } | { kind: 'forget' };

export type Log = (event: string, fields: Record<string, unknown>) => void;

export interface LoopOptions {
  /** Logs one event; default: nothing. */
  log?: Log;
  /** Retry delay after the n-th consecutive error of a key: default 1 s doubling, at most 5 min. */
  backoffMs?: (failures: number) => number;
  /** Called after every pass, with its result (for metrics). */
  onPass?: (result: 'success' | 'error', durationMs: number) => void;
}

export const objectKey = (namespace: string, name: string) => `${namespace}/${name}`;

/**
 * A work queue of "namespace/name" keys and the one place where a pass's
 * outcome becomes scheduling: requeue after a delay, forget, or (on a thrown
 * error) retry with per-key exponential backoff.
 */
export class ReconcileLoop {
  readonly #queue: WorkQueue;
  readonly #failures = new Map<string, number>();
  readonly #name: string;
  readonly #reconcile: (namespace: string, name: string) => Promise<Outcome>;
  readonly #options: LoopOptions;
  readonly #generations = new Map<string, number | undefined>();

  constructor(
    name: string,
    reconcile: (namespace: string, name: string) => Promise<Outcome>,
    options: LoopOptions,
  ) {
    this.#name = name;
    this.#reconcile = reconcile;
    this.#options = options;
    this.#queue = new WorkQueue((key) => this.#process(key));
  }

  /**
   * Reconciles the informer's objects on create and on a new generation
   * (a spec change); status-only updates, our own writes among them, bump
   * only the resourceVersion and are ignored. A deleted object is forgotten.
   */
  watchSpecs(informer: Informer<KubernetesObject>): void {
    const changed = (object: KubernetesObject) => {
      const { namespace = '', name = '', generation } = object.metadata ?? {};
      const key = objectKey(namespace, name);
      if (this.#generations.has(key) && this.#generations.get(key) === generation) return;
      this.#generations.set(key, generation);
      this.add(namespace, name);
    };
    informer.on('add', changed);
    informer.on('update', changed);
    informer.on('delete', (object) => {
      const { namespace = '', name = '' } = object.metadata ?? {};
      this.#generations.delete(objectKey(namespace, name));
      this.forget(namespace, name);
    });
  }

  add(namespace: string, name: string): void {
    this.#queue.add(objectKey(namespace, name));
  }

  forget(namespace: string, name: string): void {
    const key = objectKey(namespace, name);
    this.#failures.delete(key);
    this.#queue.forget(key);
  }

  log(event: string, fields: Record<string, unknown>): void {
    this.#options.log?.(event, { controller: this.#name, ...fields });
  }

  stop(): Promise<void> {
    return this.#queue.stop();
  }

  async #process(key: string): Promise<void> {
    const slash = key.indexOf('/');
    const started = performance.now();
    try {
      const outcome = await this.#reconcile(key.slice(0, slash), key.slice(slash + 1));
      this.#failures.delete(key);
      if (outcome.kind === 'requeue') this.#queue.addAfter(key, outcome.afterMs);
      else this.#queue.forget(key);
      this.#options.onPass?.('success', performance.now() - started);
    } catch (error) {
      const failures = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, failures);
      const delay = (this.#options.backoffMs ?? defaultBackoff)(failures);
      this.log('reconcile-error', { key, failures, retryInMs: delay, error: String(error) });
      this.#queue.addAfter(key, delay);
      this.#options.onPass?.('error', performance.now() - started);
    }
  }
}

function defaultBackoff(failures: number): number {
  return Math.min(1000 * 2 ** (failures - 1), 300_000);
}
