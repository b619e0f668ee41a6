import {
  type DatabaseConnectionSpec,
  DatabaseConnectionSpecSchema,
  type GrantCredential,
  type GrantSubject,
} from '@pgwarden/crds';
import { readCredentials } from '../database-connection/credentials.js';
import { DATABASE_CONNECTIONS } from '../database-connection/reconcile.js';
import type { KubeClients } from '../kube/clients.js';
import type { Log } from '../reconcile/loop.js';
import { DynamicRoleError, type DynamicRoles, dynamicTarget, type RoleMatch } from './dynamic-roles.js';

type ObjectRef = { namespace: string; name: string };

/**
 * Dynamic roles as the grant API needs them: from a DatabaseConnection (its
 * admin Secret read here, on every call, so a rotated Secret applies at once)
 * to a GrantCredential, and revocation by pod.
 *
 *   issue({ subject, policyRef, connectionRef, connection, expiresAt }) → GrantCredential
 *   revoke(subject) → drops the pod's roles on every dynamic DatabaseConnection
 *       of its namespace (policies name connections of their own namespace),
 *       ending their sessions; failures are logged, and the sweep drops the
 *       roles once they expire anyway.
 *   revokeMatching(namespace, match) → the same for any RoleMatch (a deleted
 *       pod's uid, a deleted policy, a policy's pods it no longer binds).
 */
export class GrantRoles {
  readonly #clients: KubeClients;
  readonly #roles: DynamicRoles;
  readonly #log: Log;

  constructor(clients: KubeClients, roles: DynamicRoles, log: Log = () => {}) {
    this.#clients = clients;
    this.#roles = roles;
    this.#log = log;
  }

  async issue(request: {
    subject: GrantSubject;
    policyRef: ObjectRef;
    connectionRef: ObjectRef;
    connection: DatabaseConnectionSpec;
    expiresAt: Date;
  }): Promise<GrantCredential> {
    const { subject, policyRef, connectionRef, connection, expiresAt } = request;
    const target = await this.#target(connectionRef, connection);
    return this.#roles.issue(target, { subject, policyRef }, expiresAt);
  }

  revoke(subject: GrantSubject): Promise<string[]> {
    return this.revokeMatching(subject.namespace, { podUid: subject.podUid });
  }

  async revokeMatching(namespace: string, match: RoleMatch): Promise<string[]> {
    const { items } = (await this.#clients.custom.listNamespacedCustomObject({
      ...DATABASE_CONNECTIONS,
      namespace,
    })) as { items: { metadata: { name: string }; spec: unknown }[] };
    const dropped: string[] = [];
    for (const item of items) {
      const parsed = DatabaseConnectionSpecSchema.safeParse(item.spec);
      if (!parsed.success || !parsed.data.credentials.dynamic) continue;
      const connectionRef = { namespace, name: item.metadata.name };
      try {
        const target = await this.#target(connectionRef, parsed.data);
        dropped.push(...(await this.#roles.revoke(target, match)));
      } catch (error) {
        this.#log('dynamic-role-revoke-failed', {
          connection: `${connectionRef.namespace}/${connectionRef.name}`,
          ...('podUid' in match ? { podUid: match.podUid } : { policy: match.policy }),
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
    return dropped;
  }

  async #target(connectionRef: ObjectRef, spec: DatabaseConnectionSpec) {
    const read = await readCredentials(this.#clients, connectionRef.namespace, spec);
    const where = `DatabaseConnection ${connectionRef.namespace}/${connectionRef.name}`;
    if (!read.ok) throw new DynamicRoleError(`${where}: ${read.message}`);
    if (read.mode !== 'dynamic') throw new DynamicRoleError(`${where} does not use dynamic credentials`);
    return dynamicTarget(connectionRef, spec, read.credentials, read.dynamic);
  }
}
