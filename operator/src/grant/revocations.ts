import type { V1Pod } from '@kubernetes/client-node';
import { podFacts } from '../agent-access-policy/binding.js';
import type { RoleMatch } from '../credentials/dynamic-roles.js';
import type { Log } from '../reconcile/loop.js';
import type { AccessEndings } from './changes.js';
import { bindsPod, nameOf } from './decide.js';

/** What a revocation needs; the operator backs it with the API server and GrantRoles, a test with fakes. */
export interface RevocationDeps {
  revoke(namespace: string, match: RoleMatch): Promise<string[]>;
  /** The policy object as stored now; undefined when it no longer exists. */
  getPolicy(namespace: string, name: string): Promise<unknown>;
  listPods(namespace: string): Promise<V1Pod[]>;
  /** The pod as stored now; undefined when it no longer exists. */
  getPod(namespace: string, name: string): Promise<V1Pod | undefined>;
  listPolicies(namespace: string): Promise<unknown[]>;
  /** Only the leader revokes: one replica connects to each database, and drops do not race each other. */
  isLeader(): boolean;
  log: Log;
}

/**
 * Ends the dynamic roles a change took away, from the watch events alone: a
 * deleted AgentAccessPolicy (its roles), a deleted pod (its roles), an edited
 * policy (its roles of the pods its subjects no longer bind), a relabelled pod
 * (its roles under the policies that no longer bind it). The grant API
 * does the same when it refuses a listening sidecar; this covers the pods
 * whose sidecar is gone or not asking, which would otherwise keep their role
 * until VALID UNTIL and the sweep. Every revocation is idempotent (a role
 * already dropped is not found again), so a repeated event costs one query.
 *
 * Only what was read as unbound loses its role: an edited policy keeps the
 * roles of pods created after the pods were listed, a relabelled pod its
 * roles under policies created after the policies were listed, since their
 * grants may have come after the read.
 */
export class Revocations implements AccessEndings {
  readonly #deps: RevocationDeps;

  constructor(deps: RevocationDeps) {
    this.#deps = deps;
  }

  policyDeleted(namespace: string, name: string): void {
    this.#run('policy-deleted', { namespace, policy: name }, () =>
      this.#deps.revoke(namespace, { policy: `${namespace}/${name}` }),
    );
  }

  podDeleted(namespace: string, name: string, uid: string): void {
    this.#run('pod-deleted', { namespace, pod: name }, () => this.#deps.revoke(namespace, { podUid: uid }));
  }

  policyChanged(namespace: string, name: string): void {
    this.#run('policy-unbinds', { namespace, policy: name }, async () => {
      const [policy, pods] = await Promise.all([
        this.#deps.getPolicy(namespace, name),
        this.#deps.listPods(namespace),
      ]);
      if (policy === undefined) return []; // deleted meanwhile: its delete event revokes
      const unbound = new Set(
        pods.filter((pod) => !bindsPod(policy, podFacts(pod))).map((pod) => pod.metadata?.uid ?? ''),
      );
      return unbound.size === 0
        ? []
        : this.#deps.revoke(namespace, { policy: `${namespace}/${name}`, podUids: unbound });
    });
  }

  podRebound(namespace: string, name: string, uid: string): void {
    this.#run('pod-unbound', { namespace, pod: name }, async () => {
      const [pod, policies] = await Promise.all([
        this.#deps.getPod(namespace, name),
        this.#deps.listPolicies(namespace),
      ]);
      if (pod?.metadata?.uid !== uid) return []; // deleted (or replaced) meanwhile: its delete event revokes
      const facts = podFacts(pod);
      const unbound = new Set(
        policies
          .filter((policy) => !bindsPod(policy, facts))
          .map((policy) => `${namespace}/${nameOf(policy)}`),
      );
      return unbound.size === 0 ? [] : this.#deps.revoke(namespace, { podUid: uid, policies: unbound });
    });
  }

  #run(cause: string, fields: Record<string, string>, work: () => Promise<string[]>): void {
    if (!this.#deps.isLeader()) return;
    const started = performance.now();
    work().then(
      (roles) => {
        if (roles.length === 0) return;
        this.#deps.log('dynamic-roles-revoked', {
          ...fields,
          cause,
          roles,
          ms: Math.round(performance.now() - started),
        });
      },
      (error: unknown) =>
        this.#deps.log('dynamic-role-revoke-failed', {
          ...fields,
          cause,
          error: error instanceof Error ? error.message : String(error),
        }),
    );
  }
}
