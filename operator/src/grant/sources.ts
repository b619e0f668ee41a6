import { AGENT_ACCESS_POLICIES } from '../agent-access-policy/reconcile.js';
import { readCredentials } from '../database-connection/credentials.js';
import { DATABASE_CONNECTIONS } from '../database-connection/reconcile.js';
import type { KubeClients } from '../kube/clients.js';
import { getObject } from '../kube/objects.js';
import type { GrantSources } from './decide.js';

/** A decision's reads, straight from the API server. */
export function kubeGrantSources(clients: KubeClients): Omit<GrantSources, 'secretRevision'> {
  return {
    async listPolicies(namespace) {
      const list = (await clients.custom.listNamespacedCustomObject({
        ...AGENT_ACCESS_POLICIES,
        namespace,
      })) as { items?: unknown[] };
      return list.items ?? [];
    },
    async getConnectionSpec(namespace, name) {
      return (await getObject(clients, DATABASE_CONNECTIONS, namespace, name))?.spec;
    },
    readCredentials: (namespace, spec) => readCredentials(clients, namespace, spec),
  };
}
