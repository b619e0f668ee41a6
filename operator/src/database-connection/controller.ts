import { type KubernetesObject, makeInformer } from '@kubernetes/client-node';
import type { DatabaseConnectionSpec } from '@pgwarden/crds';
import type { SecretFeed } from '../kube/secret-watch.js';
import { keepWatching } from '../kube/watch.js';
import { type LoopOptions, ReconcileLoop } from '../reconcile/loop.js';
import { DATABASE_CONNECTIONS, type ReconcileDeps, reconcileDatabaseConnection } from './reconcile.js';

interface ConnectionObject extends KubernetesObject {
  spec?: Partial<DatabaseConnectionSpec>;
}

export interface ControllerOptions extends ReconcileDeps, LoopOptions {
  /** The process's Secret watch, started by its owner: a change re-probes the connections naming the Secret. */
  secrets: SecretFeed;
}

/**
 * Watches DatabaseConnections (all namespaces) and, through the shared
 * Secret watch, the Secrets they name, and reconciles each connection when
 * its spec changes, when a Secret it names changes, and every probeInterval.
 * Status-only updates (our own writes) do not re-probe.
 */
export class DatabaseConnectionController {
  readonly #loop: ReconcileLoop;
  readonly #connections;
  readonly #watch: { stop(): Promise<void> };
  readonly #unsubscribe: () => void;

  constructor(options: ControllerOptions) {
    this.#loop = new ReconcileLoop(
      'databaseconnection',
      (namespace, name) => reconcileDatabaseConnection(options, namespace, name),
      options,
    );
    const { config, custom } = options.clients;
    this.#connections = makeInformer<ConnectionObject>(
      config,
      `/apis/${DATABASE_CONNECTIONS.group}/${DATABASE_CONNECTIONS.version}/${DATABASE_CONNECTIONS.plural}`,
      () => custom.listClusterCustomObject(DATABASE_CONNECTIONS) as never,
    );
    this.#loop.watchSpecs(this.#connections);
    this.#unsubscribe = options.secrets.onChange((secret) => this.#secretChanged(secret));
    this.#watch = keepWatching(this.#connections, (error, retryInMs) =>
      this.#loop.log('watch-error', { resource: 'databaseconnections', retryInMs, error: String(error) }),
    );
  }

  async start(): Promise<void> {
    await this.#connections.start();
  }

  async stop(): Promise<void> {
    this.#unsubscribe();
    await this.#watch.stop();
    await this.#loop.stop();
  }

  #secretChanged({ namespace, name }: { namespace: string; name: string }): void {
    for (const connection of this.#connections.list(namespace)) {
      const spec = connection.spec;
      const named = [
        spec?.credentials?.static?.secretRef?.name,
        spec?.credentials?.dynamic?.adminSecretRef?.name,
        spec?.tls?.caSecretRef?.name,
      ];
      if (named.includes(name)) this.#loop.add(namespace, connection.metadata?.name ?? '');
    }
  }
}
