import { type KubernetesObject, makeInformer, type V1Pod } from '@kubernetes/client-node';
import { podFacts } from '../agent-access-policy/binding.js';
import { type KubeClients, resource } from '../kube/clients.js';
import type { SecretFeed } from '../kube/secret-watch.js';
import { keepWatching } from '../kube/watch.js';
import type { Log } from '../reconcile/loop.js';

/** One held long poll's interest in changes; {@link ChangeFeed.subscribe} makes it. */
export interface Subscription {
  /** Narrows the interest once the request is decided: until then any connection or Secret of the namespace wakes it. */
  dependOn(connection: string, secrets: readonly string[]): void;
  close(): void;
}

/** The part of {@link GrantChanges} the grant API uses; a fake in unit tests. */
export interface ChangeFeed {
  /** Calls `wake` on every change that may alter the answer for this pod (any policy of its namespace counts). */
  subscribe(namespace: string, pod: string, wake: () => void): Subscription;
  /** resourceVersion of a watched Secret, '' when not (yet) seen. */
  secretRevision(namespace: string, name: string): string;
}

interface Subscriber {
  pod: string;
  connection?: string;
  secrets?: readonly string[];
  wake(): void;
}

type Kind = 'policy' | 'pod' | 'connection' | 'secret';

/** Told of the changes that can end a pod's access, whether or not a sidecar is asking (see revocations.ts). */
export interface AccessEndings {
  policyDeleted(namespace: string, name: string): void;
  /** A spec change (new generation): its subjects may no longer bind some pods. */
  policyChanged(namespace: string, name: string): void;
  podDeleted(namespace: string, name: string, uid: string): void;
  /** Its labels or service account changed: policies may no longer bind it. */
  podRebound(namespace: string, name: string, uid: string): void;
}

/**
 * Watches AgentAccessPolicies, Pods and DatabaseConnections in all
 * namespaces, and Secrets through the process's shared Secret watch, on
 * every replica, for one purpose: waking the long polls a
 * change concerns, so that a deleted policy or pod reaches the sidecar in
 * about a second (the operator pushes revocations), and telling `endings` of
 * deleted policies and pods, edited policies and relabelled pods, so that
 * access they gave ends even when no sidecar asks. Decisions themselves are
 * read from the API server, never from these caches. Status-only updates of
 * policies and connections (the controllers' own writes) wake nobody.
 */
export class GrantChanges implements ChangeFeed {
  /** By namespace. */
  readonly #subscribers = new Map<string, Set<Subscriber>>();
  readonly #generations = new Map<string, number | undefined>();
  readonly #secrets: SecretFeed;
  readonly #unsubscribeSecrets: () => void;
  readonly #informers: { start(): Promise<void> }[] = [];
  readonly #watches: { stop(): Promise<void> }[] = [];
  readonly #endings: AccessEndings | undefined;
  /** What binding reads of each pod (service account, labels), by uid, to tell a relabelling from other updates. */
  readonly #podBindings = new Map<string, string>();

  /** `secrets` is started and stopped by its owner. */
  constructor(clients: KubeClients, secrets: SecretFeed, log: Log, endings?: AccessEndings) {
    this.#endings = endings;
    this.#secrets = secrets;
    this.#unsubscribeSecrets = secrets.onChange(({ namespace, name }) =>
      this.#changed('secret', { metadata: { namespace, name } }, 'update'),
    );
    const { config, core, custom } = clients;
    const crd = (plural: string) => {
      const ref = resource(plural);
      return makeInformer<KubernetesObject>(
        config,
        `/apis/${ref.group}/${ref.version}/${plural}`,
        () => custom.listClusterCustomObject(ref) as never,
      );
    };
    const pods = makeInformer<V1Pod>(config, '/api/v1/pods', () => core.listPodForAllNamespaces());
    const watched: [Kind, ReturnType<typeof crd>][] = [
      ['policy', crd('agentaccesspolicies')],
      ['connection', crd('databaseconnections')],
      ['pod', pods as ReturnType<typeof crd>],
    ];
    for (const [kind, informer] of watched) {
      informer.on('add', (object) => this.#changed(kind, object, 'add'));
      informer.on('update', (object) => this.#changed(kind, object, 'update'));
      informer.on('delete', (object) => this.#changed(kind, object, 'delete'));
      this.#informers.push(informer);
      this.#watches.push(
        keepWatching(informer, (error, retryInMs) =>
          log('grant-watch-error', { kind, retryInMs, error: String(error) }),
        ),
      );
    }
  }

  /** Starts the watches; a failing list is retried in the background (keepWatching). */
  async start(): Promise<void> {
    await Promise.all(this.#informers.map((informer) => informer.start()));
  }

  async stop(): Promise<void> {
    this.#unsubscribeSecrets();
    await Promise.all(this.#watches.map((watch) => watch.stop()));
  }

  subscribe(namespace: string, pod: string, wake: () => void): Subscription {
    const subscriber: Subscriber = { pod, wake };
    let set = this.#subscribers.get(namespace);
    if (!set) {
      set = new Set();
      this.#subscribers.set(namespace, set);
    }
    const subscribers = set;
    subscribers.add(subscriber);
    return {
      dependOn(connection, secrets) {
        subscriber.connection = connection;
        subscriber.secrets = secrets;
      },
      close: () => {
        subscribers.delete(subscriber);
        if (subscribers.size === 0 && this.#subscribers.get(namespace) === subscribers) {
          this.#subscribers.delete(namespace);
        }
      },
    };
  }

  secretRevision(namespace: string, name: string): string {
    return this.#secrets.revision(namespace, name);
  }

  #changed(kind: Kind, object: KubernetesObject, verb: 'add' | 'update' | 'delete'): void {
    const { namespace = '', name = '', generation } = object.metadata ?? {};
    if (kind === 'policy' || kind === 'connection') {
      const key = `${kind}/${namespace}/${name}`;
      if (verb === 'delete') this.#generations.delete(key);
      else {
        if (verb === 'update' && this.#generations.get(key) === generation) return;
        this.#generations.set(key, generation);
      }
    }
    this.#tellEndings(kind, object, verb);
    for (const subscriber of this.#subscribers.get(namespace) ?? []) {
      if (concerns(kind, name, subscriber)) subscriber.wake();
    }
  }

  #tellEndings(kind: Kind, object: KubernetesObject, verb: 'add' | 'update' | 'delete'): void {
    const { namespace = '', name = '', uid = '' } = object.metadata ?? {};
    if (!this.#endings) return;
    if (kind === 'policy' && verb === 'delete') this.#endings.policyDeleted(namespace, name);
    else if (kind === 'policy' && verb === 'update') this.#endings.policyChanged(namespace, name);
    else if (kind === 'pod' && verb === 'delete') {
      this.#podBindings.delete(uid);
      this.#endings.podDeleted(namespace, name, uid);
    } else if (kind === 'pod') {
      const { serviceAccountName, labels } = podFacts(object as V1Pod);
      const binding = JSON.stringify([serviceAccountName, Object.entries(labels).sort()]);
      const before = this.#podBindings.get(uid);
      this.#podBindings.set(uid, binding);
      if (verb === 'update' && before !== undefined && before !== binding) {
        this.#endings.podRebound(namespace, name, uid);
      }
    }
  }
}

function concerns(kind: Kind, name: string, subscriber: Subscriber): boolean {
  switch (kind) {
    case 'policy':
      return true; // a new policy can bind the pod too
    case 'pod':
      return name === subscriber.pod;
    case 'connection':
      return subscriber.connection === undefined || subscriber.connection === name;
    case 'secret':
      return subscriber.secrets === undefined || subscriber.secrets.includes(name);
  }
}
