import { DatabaseConnectionSpecSchema, type DatabaseConnectionStatus, parseDurationMs } from '@pgwarden/crds';
import { type DynamicRoles, dynamicTarget } from '../credentials/dynamic-roles.js';
import { type KubeClients, resource } from '../kube/clients.js';
import { getObject } from '../kube/objects.js';
import type { Log, Outcome } from '../reconcile/loop.js';
import { writeStatusIfChanged } from '../reconcile/status-write.js';
import { databaseTarget } from './client.js';
import { readCredentials } from './credentials.js';
import { type ProbeResult, type ProbeTarget, probeDatabase } from './probe.js';
import { nextStatus, type Observation } from './status.js';

export const DATABASE_CONNECTIONS = resource('databaseconnections');

export interface ReconcileDeps {
  clients: KubeClients;
  probe?: (target: ProbeTarget) => Promise<ProbeResult>;
  /** Sweeps the expired roles of dynamic connections after each successful probe. */
  roles?: DynamicRoles;
  now?: () => Date;
  log?: Log;
}

/** Outer pass: fetch the object (gone: forget it), observe, write the status if it changed. */
export async function reconcileDatabaseConnection(
  deps: ReconcileDeps,
  namespace: string,
  name: string,
): Promise<Outcome> {
  const object = await getObject<DatabaseConnectionStatus>(
    deps.clients,
    DATABASE_CONNECTIONS,
    namespace,
    name,
  );
  if (!object) return { kind: 'forget' };
  const parsed = DatabaseConnectionSpecSchema.safeParse(object.spec);
  const generation = object.metadata.generation ?? 0;
  const now = deps.now ?? (() => new Date());
  let observation: Observation;
  let intervalMs = 60_000;
  if (!parsed.success) {
    // The API server validated it against the same schema; this is a version skew.
    observation = {
      kind: 'config',
      reason: 'ProbeFailed',
      message: `spec not understood: ${parsed.error.message}`,
    };
  } else {
    intervalMs = parseDurationMs(parsed.data.probeInterval) ?? intervalMs;
    observation = await observe(deps, { namespace, name }, parsed.data);
  }
  const status = nextStatus(object.status, generation, observation, now());
  await writeStatusIfChanged(deps.clients, DATABASE_CONNECTIONS, object, status, deps.log);
  return { kind: 'requeue', afterMs: intervalMs };
}

/** Inner pass: credentials from Secrets, the probe, then (dynamic) the sweep of expired roles. */
async function observe(
  deps: ReconcileDeps,
  connection: { namespace: string; name: string },
  spec: ReturnType<typeof DatabaseConnectionSpecSchema.parse>,
): Promise<Observation> {
  const read = await readCredentials(deps.clients, connection.namespace, spec);
  if (!read.ok) return { kind: 'config', reason: read.reason, message: read.message };
  const dynamic = read.mode === 'dynamic' ? read.dynamic : undefined;
  const result = await (deps.probe ?? probeDatabase)({
    ...databaseTarget(spec, read.credentials),
    ...(dynamic && { dynamic }),
  });
  if (dynamic && deps.roles && result.ok && !result.unusable) {
    const target = dynamicTarget(connection, spec, read.credentials, dynamic);
    // A failed sweep is retried on the next pass; it does not make the connection unusable.
    await deps.roles.sweep(target, (deps.now ?? (() => new Date()))()).catch((error: unknown) => {
      deps.log?.('dynamic-role-sweep-failed', {
        connection: `${connection.namespace}/${connection.name}`,
        error: String(error),
      });
    });
  }
  return { kind: 'probe', result };
}
