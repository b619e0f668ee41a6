import {
  DatabaseConnectionConditions as Conditions,
  type DatabaseConnectionReason,
  type DatabaseConnectionStatus,
} from '@pgwarden/crds';
import { setCondition } from '../reconcile/conditions.js';
import type { ProbeResult } from './probe.js';

/** What one pass learnt: a configuration problem (no probe was possible) or a probe's result. */
export type Observation =
  | { kind: 'config'; reason: DatabaseConnectionReason; message: string }
  | { kind: 'probe'; result: ProbeResult };

/**
 * The status after an observation, from the previous one: pure, so a pass
 * that learns nothing new yields an equal status and writes nothing.
 */
export function nextStatus(
  previous: DatabaseConnectionStatus | undefined,
  generation: number,
  observation: Observation,
  now: Date,
): DatabaseConnectionStatus {
  let conditions = previous?.conditions ?? [];
  const set = (type: string, status: 'True' | 'False' | 'Unknown', reason: string, message: string) => {
    conditions = setCondition(conditions, { type, status, reason, message }, generation, now);
  };
  const status: DatabaseConnectionStatus = { observedGeneration: generation };
  if (observation.kind === 'config') {
    set(Conditions.Reachable, 'Unknown', observation.reason, `not probed: ${observation.message}`);
    set(Conditions.Ready, 'False', observation.reason, observation.message);
  } else if (!observation.result.ok) {
    const { reason, message } = observation.result;
    set(Conditions.Reachable, 'False', reason, message);
    set(Conditions.Ready, 'False', reason, message);
  } else {
    const { serverVersion, versionString, tls, unusable } = observation.result;
    const message = `PostgreSQL ${serverVersion}${tls ? ' over TLS' : ''}`;
    set(Conditions.Reachable, 'True', 'Connected', message);
    if (unusable) set(Conditions.Ready, 'False', unusable.reason, unusable.message);
    else set(Conditions.Ready, 'True', 'Connected', message);
    Object.assign(status, { serverVersion, serverVersionString: versionString, tls });
  }
  // The last known version stays visible while the database is unreachable.
  if (observation.kind !== 'probe' || !observation.result.ok) {
    if (previous?.serverVersion) status.serverVersion = previous.serverVersion;
    if (previous?.serverVersionString) status.serverVersionString = previous.serverVersionString;
  }
  status.conditions = conditions;
  return status;
}
