import { AuthenticationV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import type { ApprovalRecord } from '@pgwarden/crds';
import { QUERY_APPROVAL_REF, type QueryApproval, toRecord } from '../approval/query-approval.js';
import { jsonPatch } from '../kube/clients.js';

export interface ClusterFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

/** A failed call, with the API server's own message (an admission refusal is passed on word for word). */
export class PluginError extends Error {}

/**
 * QueryApprovals as the person running `kubectl pgwarden` may see and decide
 * them: their kubeconfig (--kubeconfig, else KUBECONFIG, else ~/.kube/config),
 * context and namespace, as kubectl picks them.
 */
export class ApprovalQueue {
  readonly namespace: string;
  readonly #config: KubeConfig;
  readonly #custom: CustomObjectsApi;

  constructor(flags: ClusterFlags) {
    this.#config = new KubeConfig();
    try {
      if (flags.kubeconfig) this.#config.loadFromFile(flags.kubeconfig);
      else this.#config.loadFromDefault();
    } catch (error) {
      const path = flags.kubeconfig ?? process.env.KUBECONFIG ?? '~/.kube/config';
      throw new PluginError(`cannot load the kubeconfig ${path}: ${(error as Error).message}`);
    }
    if (flags.context) {
      if (!this.#config.getContextObject(flags.context))
        throw new PluginError(`context "${flags.context}" not found`);
      this.#config.setCurrentContext(flags.context);
    }
    const current = this.#config.getContextObject(this.#config.getCurrentContext());
    this.namespace = flags.namespace ?? current?.namespace ?? 'default';
    this.#custom = this.#config.makeApiClient(CustomObjectsApi);
  }

  /** Every request in the namespace (all namespaces: null), oldest first. */
  async list(allNamespaces: boolean): Promise<QueryApproval[]> {
    const list = (await call(() =>
      allNamespaces
        ? this.#custom.listClusterCustomObject(QUERY_APPROVAL_REF)
        : this.#custom.listNamespacedCustomObject({ ...QUERY_APPROVAL_REF, namespace: this.namespace }),
    )) as { items: QueryApproval[] };
    return list.items.sort((a, b) => a.spec.createdAt.localeCompare(b.spec.createdAt));
  }

  async get(name: string): Promise<QueryApproval> {
    return (await call(() =>
      this.#custom.getNamespacedCustomObject({ ...QUERY_APPROVAL_REF, namespace: this.namespace, name }),
    )) as QueryApproval;
  }

  /**
   * Writes a decision to the status (a JSON patch of the whole status): an
   * approval appended, or phase Denied with the reason. Who decided is stamped
   * by the operator's admission webhook from this request's credentials, which
   * also refuses what may not be decided and recomputes the status from the
   * stored one; `by` here is only what the schema needs until then.
   */
  async decide(name: string, approve: boolean, reason: string | null): Promise<ApprovalRecord> {
    const by = await this.whoAmI();
    for (let attempt = 1; ; attempt++) {
      // The whole status, from the object as read: the operator may not have written its first status yet.
      const object = await this.get(name);
      const { status } = toRecord(object);
      const decided = approve
        ? { ...status, approvals: [...status.approvals, { by, at: new Date().toISOString(), reason }] }
        : { ...status, phase: 'Denied', reason };
      // Only onto the status as read: another approval in between would make this one look like none.
      const precondition = {
        op: 'replace',
        path: '/metadata/resourceVersion',
        value: object.metadata.resourceVersion,
      };
      try {
        const updated = (await call(() =>
          this.#custom.patchNamespacedCustomObjectStatus(
            {
              ...QUERY_APPROVAL_REF,
              namespace: this.namespace,
              name,
              body: [precondition, { op: 'add', path: '/status', value: decided }],
            },
            jsonPatch,
          ),
        )) as QueryApproval;
        return toRecord(updated);
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= 5) throw error;
      }
    }
  }

  /** The user name the API server knows these credentials by. */
  async whoAmI(): Promise<string> {
    const review = await call(() =>
      this.#config.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      }),
    );
    return review.status?.userInfo?.username ?? 'unknown';
  }
}

async function call<T>(request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    const { code, body } = error as { code?: number; body?: unknown };
    if (code === undefined) throw new PluginError((error as Error).message);
    let message = typeof body === 'string' ? body : JSON.stringify(body);
    try {
      message = (JSON.parse(message) as { message?: string }).message ?? message;
    } catch {
      // Not a Status object: its text as it came.
    }
    if (code === 409 && message.includes('the object has been modified')) throw new ConflictError(message);
    throw new PluginError(message);
  }
}

/** The object changed between read and write: read it again. */
class ConflictError extends PluginError {}
