import { DatabaseConnectionSpecSchema, type DatabaseConnectionStatus, parseDurationMs } from '@pgwarden/crds';
import { apiStatus, type KubeClients, mergePatch, resource } from '../kube/clients.js';
import { readCredentials } from './credentials.js';
import { type ProbeResult, type ProbeTarget, probeDatabase } from './probe.js';
import { nextStatus, type Observation, sameStatus } from './status.js';

export const DATABASE_CONNECTIONS = resource('databaseconnections');

/** What the controller does next with a key. */
export type Outcome = { kind: 'requeue'; afterMs: number } | { kind: 'forget' };

export interface ReconcileDeps {
  clients: KubeClients;
  probe?: (target: ProbeTarget) => Promise<ProbeResult>;
  now?: () => Date;
}

interface StoredConnection {
  metadata: { name: string; namespace: string; generation?: number };
  spec: unknown;
  status?: DatabaseConnectionStatus;
}

/** Outer pass: fetch the object (gone: forget it), observe, write the status if it changed. */
export async function reconcileDatabaseConnection(
  deps: ReconcileDeps,
  namespace: string,
  name: string,
): Promise<Outcome> {
  const object = await fetch(deps.clients, namespace, name);
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
  if (!sameStatus(status, object.status)) await writeStatus(deps.clients, namespace, name, status);
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

async function fetch(
  clients: KubeClients,
  namespace: string,
  name: string,
): Promise<StoredConnection | undefined> {
  try {
    return (await clients.custom.getNamespacedCustomObject({
      ...DATABASE_CONNECTIONS,
      namespace,
      name,
    })) as StoredConnection;
  } catch (error) {
    if (apiStatus(error) === 404) return undefined;
    throw error;
  }
}

// A merge patch of the status subresource: the conditions list is replaced
// whole, and nothing outside status can be touched by it.
async function writeStatus(
  clients: KubeClients,
  namespace: string,
  name: string,
  status: DatabaseConnectionStatus,
) {
  try {
    await clients.custom.patchNamespacedCustomObjectStatus(
      { ...DATABASE_CONNECTIONS, namespace, name, body: { status }, fieldManager: 'pgwarden-operator' },
      mergePatch,
    );
  } catch (error) {
    if (apiStatus(error) !== 404) throw error;
  }
}
