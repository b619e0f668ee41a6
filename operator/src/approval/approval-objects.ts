import { Watch } from '@kubernetes/client-node';
import type { ApprovalRecord, ApprovalRequest, ApprovalStatus } from '@pgwarden/crds';
import { apiStatus, type KubeClients } from '../kube/clients.js';
import { getObject, setStatusField } from '../kube/objects.js';
import {
  FINGERPRINT_LABEL,
  QUERY_APPROVAL_REF,
  type QueryApproval,
  queryApprovalObject,
  toRecord,
} from './query-approval.js';

/** A change the caller refuses to make: answered to the sidecar with this status. */
export class ApprovalConflict extends Error {
  constructor(
    readonly status: 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

/**
 * QueryApprovals through the API server, for the approval API: every replica
 * reads and writes them directly (no cache), with the resourceVersion of what
 * it read, so two replicas or two sessions never both use a single-use approval.
 */
export class ApprovalObjects {
  constructor(private readonly clients: KubeClients) {}

  /** The namespace's requests for statements with this fingerprint (the only ones that can cover or match it). */
  async withFingerprint(namespace: string, fingerprint: string): Promise<QueryApproval[]> {
    const list = (await this.clients.custom.listNamespacedCustomObject({
      ...QUERY_APPROVAL_REF,
      namespace,
      labelSelector: `${FINGERPRINT_LABEL}=${fingerprint}`,
    })) as { items: QueryApproval[] };
    return list.items;
  }

  get(namespace: string, name: string): Promise<QueryApproval | undefined> {
    return getObject<ApprovalStatus>(this.clients, QUERY_APPROVAL_REF, namespace, name) as Promise<
      QueryApproval | undefined
    >;
  }

  /** Creates the object, then its Pending status (a create drops the status). */
  async create(namespace: string, id: string, request: ApprovalRequest): Promise<ApprovalRecord> {
    const created = (await this.clients.custom.createNamespacedCustomObject({
      ...QUERY_APPROVAL_REF,
      namespace,
      body: queryApprovalObject(id, namespace, request),
    })) as QueryApproval;
    const record = toRecord(created);
    const { resourceVersion } = created.metadata;
    try {
      // Only onto the object as created: a decision written first (it reads a missing status as Pending) stays.
      await setStatusField(
        this.clients,
        QUERY_APPROVAL_REF,
        { namespace, name: id, resourceVersion },
        '/status',
        record.status,
      );
    } catch (error) {
      if (apiStatus(error) !== 409) throw error;
      const current = await this.get(namespace, id);
      if (current) return toRecord(current);
    }
    return record;
  }

  /**
   * Read, change, write with the read's resourceVersion; again on a conflict.
   * `change` returns the next status, or throws an ApprovalConflict to refuse.
   */
  async update(
    namespace: string,
    name: string,
    change: (record: ApprovalRecord) => ApprovalStatus,
  ): Promise<ApprovalRecord> {
    for (let attempt = 1; ; attempt++) {
      const object = await this.get(namespace, name);
      if (!object) throw new ApprovalConflict(404, `no approval request ${name} in namespace ${namespace}`);
      const record = toRecord(object);
      const status = change(record);
      try {
        await setStatusField(
          this.clients,
          QUERY_APPROVAL_REF,
          { namespace, name, resourceVersion: object.metadata.resourceVersion },
          '/status',
          status,
        );
        return { ...record, status };
      } catch (error) {
        if (apiStatus(error) !== 409 || attempt >= 5) throw error;
      }
    }
  }

  /** Deletes the request if it is still at `resourceVersion`; false when it changed meanwhile. */
  async remove(namespace: string, name: string, resourceVersion: string | undefined): Promise<boolean> {
    try {
      await this.clients.custom.deleteNamespacedCustomObject({
        ...QUERY_APPROVAL_REF,
        namespace,
        name,
        body: { preconditions: { resourceVersion } },
      });
      return true;
    } catch (error) {
      const status = apiStatus(error);
      if (status === 404) return true;
      if (status === 409) return false;
      throw error;
    }
  }

  /**
   * Resolves once `until` holds for the object (or it is deleted: undefined),
   * or after `ms` with it as it is then; a watch on the one object, so a
   * decision reaches the waiting sidecar as soon as the API server has it.
   */
  async waitFor(
    namespace: string,
    name: string,
    ms: number,
    until: (object: QueryApproval) => boolean,
    aborted: AbortSignal,
  ): Promise<QueryApproval | undefined> {
    const first = await this.get(namespace, name);
    if (!first || until(first) || ms <= 0) return first;
    let controller: AbortController | undefined;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      aborted.addEventListener('abort', () => resolve(), { once: true });
      const { group, version, plural } = QUERY_APPROVAL_REF;
      new Watch(this.clients.config)
        .watch(
          `/apis/${group}/${version}/namespaces/${namespace}/${plural}`,
          { fieldSelector: `metadata.name=${name}`, resourceVersion: first.metadata.resourceVersion },
          (type, object: QueryApproval) => {
            if (type === 'DELETED' || until(object)) resolve();
          },
          // The watch ended early (an API server restart): the read below answers, the sidecar asks again.
          () => resolve(),
        )
        .then(
          (c) => {
            controller = c;
            if (done) c.abort();
          },
          () => resolve(),
        );
    });
    done = true;
    clearTimeout(timer);
    controller?.abort();
    return this.get(namespace, name);
  }
}
