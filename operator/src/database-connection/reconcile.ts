import { DatabaseConnectionSpecSchema, type DatabaseConnectionStatus, parseDurationMs } from '@pgwarden/crds';
import { type KubeClients, resource } from '../kube/clients.js';
import { getObject } from '../kube/objects.js';
import type { Log, Outcome } from '../reconcile/loop.js';
import { writeStatusIfChanged } from '../reconcile/status-write.js';
import { readCredentials } from './credentials.js';
import { type ProbeResult, type ProbeTarget, probeDatabase } from './probe.js';
import { nextStatus, type Observation } from './status.js';

export const DATABASE_CONNECTIONS = resource('databaseconnections');

export interface ReconcileDeps {
  clients: KubeClients;
  probe?: (target: ProbeTarget) => Promise<ProbeResult>;
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
    observation = await observe(deps, namespace, parsed.data);
  }
  const status = nextStatus(object.status, generation, observation, now());
  await writeStatusIfChanged(deps.clients, DATABASE_CONNECTIONS, object, status, deps.log);
  return { kind: 'requeue', afterMs: intervalMs };
}

/** Inner pass: credentials from Secrets, then the probe. */
async function observe(
  deps: ReconcileDeps,
  namespace: string,
  spec: ReturnType<typeof DatabaseConnectionSpecSchema.parse>,
): Promise<Observation> {
  const credentials = await readCredentials(deps.clients.core, namespace, spec);
  if (!credentials.ok) return { kind: 'config', reason: credentials.reason, message: credentials.message };
  const result = await (deps.probe ?? probeDatabase)({
    host: spec.host,
    port: spec.port,
    database: spec.database,
    tlsMode: spec.tls.mode,
    connectTimeoutMs: parseDurationMs(spec.connectTimeout) ?? 10_000,
    credentials: credentials.credentials,
  });
  return { kind: 'probe', result };
}
