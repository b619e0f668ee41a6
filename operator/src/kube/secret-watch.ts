import {
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  ListWatch,
  setHeaderOptions,
  Watch,
} from '@kubernetes/client-node';
import type { Log } from '../reconcile/loop.js';
import type { KubeClients } from './clients.js';
import { keepWatching } from './watch.js';

/** A Secret was added, changed or deleted. */
export type SecretListener = (secret: { namespace: string; name: string }) => void;

/** The part of {@link SecretWatch} its users need; a fake in unit tests. */
export interface SecretFeed {
  /** Calls `listener` on every change of a watched Secret; returns the unsubscribe. */
  onChange(listener: SecretListener): () => void;
  /** resourceVersion of a watched Secret, '' when not (yet) seen. */
  revision(namespace: string, name: string): string;
}

// The API server's PartialObjectMetadata answer: name, namespace, resourceVersion, labels…, never data.
const METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
const METADATA_WATCH = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

/**
 * The one watch of Secrets in an operator process, shared by the connection
 * controller (re-probe on rotation) and the grant change feed (wake long
 * polls, version grants by resourceVersion). Only metadata is listed and
 * watched: neither needs the values, which are read with `get` when used, so
 * no Secret's data sits in this process's memory for the sake of a cache.
 * Cluster-wide, or one namespaced watch per --secret-namespaces entry, which
 * is all the RBAC made for that list allows.
 */
export class SecretWatch implements SecretFeed {
  readonly #informers: ListWatch<KubernetesObject>[];
  readonly #watches: { stop(): Promise<void> }[];
  readonly #listeners = new Set<SecretListener>();

  constructor(clients: KubeClients, log: Log) {
    const { core, secretNamespaces } = clients;
    const watch = new Watch(acceptingMetadata(clients.config));
    const metadataOnly = setHeaderOptions('Accept', METADATA_LIST);
    const list = (request: () => Promise<unknown>) => () =>
      request() as Promise<KubernetesListObject<KubernetesObject>>;
    this.#informers =
      secretNamespaces.length === 0
        ? [
            new ListWatch(
              '/api/v1/secrets',
              watch,
              list(() => core.listSecretForAllNamespaces({}, metadataOnly)),
              false,
            ),
          ]
        : secretNamespaces.map(
            (namespace) =>
              new ListWatch(
                `/api/v1/namespaces/${namespace}/secrets`,
                watch,
                list(() => core.listNamespacedSecret({ namespace }, metadataOnly)),
                false,
              ),
          );
    const changed = (object: KubernetesObject) => {
      const secret = { namespace: object.metadata?.namespace ?? '', name: object.metadata?.name ?? '' };
      for (const listener of this.#listeners) listener(secret);
    };
    this.#watches = this.#informers.map((informer, i) => {
      for (const verb of ['add', 'update', 'delete'] as const) informer.on(verb, changed);
      const namespace = secretNamespaces[i] ?? '(all)';
      return keepWatching(informer, (error, retryInMs) =>
        log('watch-error', { resource: 'secrets', namespace, retryInMs, error: String(error) }),
      );
    });
  }

  /** Lists every watched namespace, then watches; a failing list is retried in the background (keepWatching). */
  async start(): Promise<void> {
    await Promise.all(this.#informers.map((informer) => informer.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.#watches.map((watch) => watch.stop()));
  }

  onChange(listener: SecretListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  revision(namespace: string, name: string): string {
    for (const informer of this.#informers) {
      const found = informer.get(name, namespace);
      if (found) return found.metadata?.resourceVersion ?? '';
    }
    return '';
  }
}

/**
 * The kubeconfig with one difference for the watch requests made with it:
 * they ask for PartialObjectMetadata. client-node's Watch has no header
 * option; it takes its headers from the config's authentication step.
 */
function acceptingMetadata(config: KubeConfig): KubeConfig {
  const wrapped = Object.create(config) as KubeConfig;
  wrapped.applySecurityAuthentication = async (context) => {
    await config.applySecurityAuthentication(context);
    context.setHeaderParam('Accept', METADATA_WATCH);
  };
  return wrapped;
}
