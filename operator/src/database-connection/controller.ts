import { type KubernetesObject, makeInformer, type V1Secret } from '@kubernetes/client-node';
import type { DatabaseConnectionSpec } from '@pgwarden/crds';
import { keepWatching } from '../kube/watch.js';
import { type LoopOptions, ReconcileLoop } from '../reconcile/loop.js';
import { DATABASE_CONNECTIONS, type ReconcileDeps, reconcileDatabaseConnection } from './reconcile.js';

interface ConnectionObject extends KubernetesObject {
  spec?: Partial<DatabaseConnectionSpec>;
}

export interface ControllerOptions extends ReconcileDeps, LoopOptions {}

/**
 * Watches DatabaseConnections and Secrets (all namespaces) and reconciles
 * each connection when its spec changes, when a Secret it names changes, and
 * every probeInterval. Status-only updates (our own writes) do not re-probe.
 */
export class DatabaseConnectionController {
  readonly #loop: ReconcileLoop;
  readonly #connections;
  readonly #secrets;
  readonly #watches: { stop(): Promise<void> }[];

  constructor(options: ControllerOptions) {
    this.#loop = new ReconcileLoop(
      'databaseconnection',
      (namespace, name) => reconcileDatabaseConnection(options, namespace, name),
      options,
    );
    const { config, custom, core } = options.clients;
    this.#connections = makeInformer<ConnectionObject>(
      config,
      `/apis/${DATABASE_CONNECTIONS.group}/${DATABASE_CONNECTIONS.version}/${DATABASE_CONNECTIONS.plural}`,
      () => custom.listClusterCustomObject(DATABASE_CONNECTIONS) as never,
    );
    this.#secrets = makeInformer<V1Secret>(config, '/api/v1/secrets', () =>
      core.listSecretForAllNamespaces(),
    );
    this.#loop.watchSpecs(this.#connections);
    const onSecret = (secret: V1Secret) => this.#secretChanged(secret);
    for (const verb of ['add', 'update', 'delete'] as const) this.#secrets.on(verb, onSecret);
    this.#watches = [
      keepWatching(this.#connections, (error, retryInMs) =>
        this.#loop.log('watch-error', { resource: 'databaseconnections', retryInMs, error: String(error) }),
      ),
      keepWatching(this.#secrets, (error, retryInMs) =>
        this.#loop.log('watch-error', { resource: 'secrets', retryInMs, error: String(error) }),
      ),
    ];
  }

  async start(): Promise<void> {
    await Promise.all([this.#secrets.start(), this.#connections.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all(this.#watches.map((watch) => watch.stop()));
    await this.#loop.stop();
  }

  #secretChanged(secret: V1Secret): void {
    const namespace = secret.metadata?.namespace;
    const name = secret.metadata?.name;
    for (const connection of this.#connections.list(namespace)) {
      const spec = connection.spec;
      const named = [
        spec?.credentials?.static?.secretRef?.name,
        spec?.credentials?.dynamic?.adminSecretRef?.name,
        spec?.tls?.caSecretRef?.name,
      ];
      if (name && named.includes(name)) {
        this.#loop.add(namespace ?? '', connection.metadata?.name ?? '');
      }
    }
  }
}
