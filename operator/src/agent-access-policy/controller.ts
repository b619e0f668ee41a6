import { type KubernetesObject, makeInformer, type V1Pod } from '@kubernetes/client-node';
import { keepWatching } from '../kube/watch.js';
import { type LoopOptions, ReconcileLoop } from '../reconcile/loop.js';
import { type PodFacts, podFacts, samePodFacts } from './binding.js';
import { AGENT_ACCESS_POLICIES, type PolicyReconcileDeps, reconcileAgentAccessPolicy } from './reconcile.js';

interface PolicyObject extends KubernetesObject {
  spec?: { connection?: unknown };
}

export interface PolicyControllerOptions extends Omit<PolicyReconcileDeps, 'podsIn'>, LoopOptions {}

/**
 * Watches AgentAccessPolicies, DatabaseConnections and Pods (all namespaces)
 * and reconciles a policy when its spec changes, when the connection it names
 * changes, when a pod of its namespace starts or stops matching subjects, and
 * every resync period. Status-only updates (our own writes) do not re-run it.
 */
export class AgentAccessPolicyController {
  readonly #loop: ReconcileLoop;
  /** namespace → pod name → the facts binding depends on. */
  readonly #pods = new Map<string, Map<string, PodFacts>>();
  readonly #policies;
  readonly #connections;
  readonly #podInformer;
  readonly #watches: { stop(): Promise<void> }[];

  constructor(options: PolicyControllerOptions) {
    const deps: PolicyReconcileDeps = {
      ...options,
      podsIn: (namespace) => this.#pods.get(namespace)?.values() ?? [],
    };
    this.#loop = new ReconcileLoop(
      'agentaccesspolicy',
      (namespace, name) => reconcileAgentAccessPolicy(deps, namespace, name),
      options,
    );
    const { config, custom, core } = options.clients;
    const { group, version } = AGENT_ACCESS_POLICIES;
    this.#policies = makeInformer<PolicyObject>(
      config,
      `/apis/${group}/${version}/agentaccesspolicies`,
      () => custom.listClusterCustomObject(AGENT_ACCESS_POLICIES) as never,
    );
    this.#connections = makeInformer<KubernetesObject>(
      config,
      `/apis/${group}/${version}/databaseconnections`,
      () => custom.listClusterCustomObject({ group, version, plural: 'databaseconnections' }) as never,
    );
    this.#podInformer = makeInformer<V1Pod>(config, '/api/v1/pods', () => core.listPodForAllNamespaces());

    this.#loop.watchSpecs(this.#policies);
    const onConnection = (object: KubernetesObject) => {
      const { namespace = '', name } = object.metadata ?? {};
      this.#enqueueNamespace(namespace, (policy) => policy.spec?.connection === name);
    };
    for (const verb of ['add', 'update', 'delete'] as const) this.#connections.on(verb, onConnection);
    this.#podInformer.on('add', (pod) => this.#podChanged(pod, podFacts(pod)));
    this.#podInformer.on('update', (pod) => this.#podChanged(pod, podFacts(pod)));
    this.#podInformer.on('delete', (pod) => this.#podChanged(pod, undefined));

    const watch = (resource: string) => (error: unknown, retryInMs: number) =>
      this.#loop.log('watch-error', { resource, retryInMs, error: String(error) });
    this.#watches = [
      keepWatching(this.#policies, watch('agentaccesspolicies')),
      keepWatching(this.#connections, watch('databaseconnections')),
      keepWatching(this.#podInformer, watch('pods')),
    ];
  }

  /** Starts the watches; pods and connections first, so the first passes count from a full cache. */
  async start(): Promise<void> {
    await Promise.all([this.#podInformer.start(), this.#connections.start()]);
    await this.#policies.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.#watches.map((watch) => watch.stop()));
    await this.#loop.stop();
  }

  #podChanged(pod: V1Pod, facts: PodFacts | undefined): void {
    const { namespace = '', name = '' } = pod.metadata ?? {};
    let pods = this.#pods.get(namespace);
    if (samePodFacts(pods?.get(name), facts)) return;
    if (facts) {
      if (!pods) {
        pods = new Map();
        this.#pods.set(namespace, pods);
      }
      pods.set(name, facts);
    } else {
      pods?.delete(name);
      if (pods?.size === 0) this.#pods.delete(namespace);
    }
    this.#enqueueNamespace(namespace, () => true);
  }

  #enqueueNamespace(namespace: string, which: (policy: PolicyObject) => boolean): void {
    for (const policy of this.#policies.list(namespace)) {
      if (which(policy)) this.#loop.add(namespace, policy.metadata?.name ?? '');
    }
  }
}
