import { type KubernetesObject, makeInformer, type V1Secret } from '@kubernetes/client-node';
import type { DatabaseConnectionSpec } from '@pgwarden/crds';
import { keepWatching } from '../kube/watch.js';
import { WorkQueue } from '../reconcile/queue.js';
import { DATABASE_CONNECTIONS, type ReconcileDeps, reconcileDatabaseConnection } from './reconcile.js';

interface ConnectionObject extends KubernetesObject {
  spec?: Partial<DatabaseConnectionSpec>;
}

export interface ControllerOptions extends ReconcileDeps {
  /** Logs one event; default: nothing. */
  log?: (event: string, fields: Record<string, unknown>) => void;
  /** Retry delay after the n-th consecutive error of a key: default 1 s doubling, at most 5 min. */
  backoffMs?: (failures: number) => number;
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;

/**
 * Watches DatabaseConnections and Secrets (all namespaces) and reconciles
 * each connection when its spec changes, when a Secret it names changes, and
 * every probeInterval. Status-only updates (our own writes) do not re-probe.
 */
export class DatabaseConnectionController {
  readonly #deps: ControllerOptions;
  readonly #queue: WorkQueue;
  readonly #failures = new Map<string, number>();
  readonly #generations = new Map<string, number | undefined>();
  readonly #connections;
  readonly #secrets;
  readonly #watches: { stop(): Promise<void> }[];

  constructor(options: ControllerOptions) {
    this.#deps = options;
    this.#queue = new WorkQueue((k) => this.#process(k));
    const { config, custom, core } = options.clients;
    this.#connections = makeInformer<ConnectionObject>(
      config,
      `/apis/${DATABASE_CONNECTIONS.group}/${DATABASE_CONNECTIONS.version}/${DATABASE_CONNECTIONS.plural}`,
      () => custom.listClusterCustomObject(DATABASE_CONNECTIONS) as never,
    );
    this.#secrets = makeInformer<V1Secret>(config, '/api/v1/secrets', () =>
      core.listSecretForAllNamespaces(),
    );
    const onConnection = (object: ConnectionObject) => {
      const { namespace = '', name = '', generation } = object.metadata ?? {};
      const k = key(namespace, name);
      if (this.#generations.has(k) && this.#generations.get(k) === generation) return;
      this.#generations.set(k, generation);
      this.#queue.add(k);
    };
    this.#connections.on('add', onConnection);
    this.#connections.on('update', onConnection);
    this.#connections.on('delete', (object) => {
      const k = key(object.metadata?.namespace ?? '', object.metadata?.name ?? '');
      this.#generations.delete(k);
      this.#queue.forget(k);
    });
    const onSecret = (secret: V1Secret) => this.#secretChanged(secret);
    for (const verb of ['add', 'update', 'delete'] as const) this.#secrets.on(verb, onSecret);
    this.#watches = [
      keepWatching(this.#connections, (error, retryInMs) =>
        this.#log('watch-error', { resource: 'databaseconnections', retryInMs, error: String(error) }),
      ),
      keepWatching(this.#secrets, (error, retryInMs) =>
        this.#log('watch-error', { resource: 'secrets', retryInMs, error: String(error) }),
      ),
    ];
  }

  async start(): Promise<void> {
    await Promise.all([this.#secrets.start(), this.#connections.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all(this.#watches.map((watch) => watch.stop()));
    await this.#queue.stop();
  }

  #secretChanged(secret: V1Secret): void {
    const namespace = secret.metadata?.namespace;
    const name = secret.metadata?.name;
    for (const connection of this.#connections.list(namespace)) {
      const spec = connection.spec;
      if (spec?.credentials?.static?.secretRef?.name === name || spec?.tls?.caSecretRef?.name === name) {
        this.#queue.add(key(namespace ?? '', connection.metadata?.name ?? ''));
      }
    }
  }

  async #process(k: string): Promise<void> {
    const [namespace = '', name = ''] = k.split('/');
    try {
      const outcome = await reconcileDatabaseConnection(this.#deps, namespace, name);
      this.#failures.delete(k);
      if (outcome.kind === 'requeue') this.#queue.addAfter(k, outcome.afterMs);
      else this.#queue.forget(k);
    } catch (error) {
      const failures = (this.#failures.get(k) ?? 0) + 1;
      this.#failures.set(k, failures);
      const delay = (this.#deps.backoffMs ?? defaultBackoff)(failures);
      this.#log('reconcile-error', { key: k, failures, retryInMs: delay, error: String(error) });
      this.#queue.addAfter(k, delay);
    }
  }

  #log(event: string, fields: Record<string, unknown>): void {
    this.#deps.log?.(event, { controller: 'databaseconnection', ...fields });
  }
}

function defaultBackoff(failures: number): number {
  return Math.min(1000 * 2 ** (failures - 1), 300_000);
}
