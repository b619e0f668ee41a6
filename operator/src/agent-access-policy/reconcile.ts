import {
  type AgentAccessPolicyStatus,
  compilePolicy,
  type DatabaseConnectionStatus,
  formatFieldError,
  PolicyCompileError,
  validatePolicy,
} from '@pgwarden/crds';
import { DATABASE_CONNECTIONS } from '../database-connection/reconcile.js';
import { type KubeClients, resource } from '../kube/clients.js';
import { getObject } from '../kube/objects.js';
import type { Log, Outcome } from '../reconcile/loop.js';
import { writeStatusIfChanged } from '../reconcile/status-write.js';
import { binds, type PodFacts, type Subjects } from './binding.js';
import {
  type CompileObservation,
  type ConnectionObservation,
  nextPolicyStatus,
  type PolicyObservation,
} from './status.js';

export const AGENT_ACCESS_POLICIES = resource('agentaccesspolicies');

export interface PolicyReconcileDeps {
  clients: KubeClients;
  /** The facts of the pods of a namespace (from the controller's pod informer). */
  podsIn: (namespace: string) => Iterable<PodFacts>;
  /** Every how often a policy is reconciled without a watch event (a safety net). */
  resyncMs?: number;
  now?: () => Date;
  log?: Log;
}

/** Outer pass: fetch the policy (gone: forget it), observe, write the status and Events if it changed. */
export async function reconcileAgentAccessPolicy(
  deps: PolicyReconcileDeps,
  namespace: string,
  name: string,
): Promise<Outcome> {
  const object = await getObject<AgentAccessPolicyStatus>(
    deps.clients,
    AGENT_ACCESS_POLICIES,
    namespace,
    name,
  );
  if (!object) return { kind: 'forget' };
  const observation = await observe(deps, namespace, object);
  const generation = object.metadata.generation ?? 0;
  const status = nextPolicyStatus(object.status, generation, observation, (deps.now ?? (() => new Date()))());
  await writeStatusIfChanged(deps.clients, AGENT_ACCESS_POLICIES, object, status, deps.log);
  return { kind: 'requeue', afterMs: deps.resyncMs ?? 10 * 60_000 };
}

/** Inner pass: validate and compile, resolve the connection, count bound pods. */
async function observe(
  deps: PolicyReconcileDeps,
  namespace: string,
  object: { spec: unknown },
): Promise<PolicyObservation> {
  const { compiled, subjects, connection } = compile(object);
  return {
    compiled,
    connection:
      connection === undefined ? undefined : await resolveConnection(deps.clients, namespace, connection),
    boundPods: countBound(deps.podsIn(namespace), subjects),
  };
}

/**
 * The same validation and compiler the sidecar runs on a policy file; every
 * failure names its field (spec.rules[1].match.kinds[0]: …).
 */
function compile(object: unknown): {
  compiled: CompileObservation;
  subjects?: Subjects;
  connection?: string;
} {
  const validation = validatePolicy(object, { standalone: false });
  if (!validation.ok) {
    return {
      compiled: {
        ok: false,
        reason: 'InvalidSpec',
        message: validation.errors.map(formatFieldError).join('; '),
      },
    };
  }
  const { spec } = validation.policy;
  const found = { subjects: spec.subjects, connection: spec.connection };
  try {
    return { compiled: { ok: true, hash: compilePolicy(validation.policy).hash }, ...found };
  } catch (error) {
    if (!(error instanceof PolicyCompileError)) throw error;
    return {
      compiled: {
        ok: false,
        reason: 'CompileFailed',
        message: error.errors.map(formatFieldError).join('; '),
      },
      ...found,
    };
  }
}

async function resolveConnection(
  clients: KubeClients,
  namespace: string,
  name: string,
): Promise<ConnectionObservation> {
  const connection = await getObject<DatabaseConnectionStatus>(
    clients,
    DATABASE_CONNECTIONS,
    namespace,
    name,
  );
  if (!connection) return { state: 'missing', name };
  const ready = connection.status?.conditions?.find((c) => c.type === 'Ready');
  const current = connection.status?.observedGeneration === connection.metadata.generation;
  if (ready?.status === 'True' && current) return { state: 'ready', name };
  return {
    state: 'not-ready',
    name,
    message: ready && current ? `${ready.reason}: ${ready.message}` : 'not probed yet',
  };
}

function countBound(pods: Iterable<PodFacts>, subjects: Subjects | undefined): number {
  let count = 0;
  for (const pod of pods) if (pod.active && binds(subjects, pod)) count++;
  return count;
}
