import {
  type AgentAccessPolicyReason,
  type AgentAccessPolicyStatus,
  AgentAccessPolicyConditions as Conditions,
} from '@pgwarden/crds';
import { setCondition } from '../reconcile/conditions.js';

export type CompileObservation =
  | { ok: true; hash: string }
  | { ok: false; reason: AgentAccessPolicyReason; message: string };

export type ConnectionObservation =
  | { state: 'ready'; name: string }
  | { state: 'missing'; name: string }
  | { state: 'not-ready'; name: string; message: string };

/** What one pass learnt about a policy. */
export interface PolicyObservation {
  compiled: CompileObservation;
  /** Absent when the spec could not be read far enough to name a connection. */
  connection?: ConnectionObservation;
  boundPods: number;
}

/** The status after an observation: pure, so a pass that learns nothing new writes nothing. */
export function nextPolicyStatus(
  previous: AgentAccessPolicyStatus | undefined,
  generation: number,
  observation: PolicyObservation,
  now: Date,
): AgentAccessPolicyStatus {
  let conditions = previous?.conditions ?? [];
  const set = (type: string, ok: boolean, reason: AgentAccessPolicyReason, message: string) => {
    conditions = setCondition(
      conditions,
      { type, status: ok ? 'True' : 'False', reason, message },
      generation,
      now,
    );
  };
  const status: AgentAccessPolicyStatus = {
    observedGeneration: generation,
    boundPods: observation.boundPods,
  };
  const { compiled, connection } = observation;
  if (!compiled.ok) {
    set(Conditions.Compiled, false, compiled.reason, compiled.message);
    set(Conditions.Ready, false, compiled.reason, compiled.message);
  } else {
    // A hash names the spec of this generation only; a failing spec has none.
    status.compiledHash = compiled.hash;
    set(Conditions.Compiled, true, 'Compiled', `compiled, hash ${compiled.hash.slice(0, 12)}`);
    if (!connection || connection.state === 'missing') {
      set(
        Conditions.Ready,
        false,
        'ConnectionNotFound',
        `DatabaseConnection ${connection?.name ?? '(none)'} not found in this namespace`,
      );
    } else if (connection.state === 'not-ready') {
      set(
        Conditions.Ready,
        false,
        'ConnectionNotReady',
        `DatabaseConnection ${connection.name} is not Ready: ${connection.message}`,
      );
    } else {
      set(Conditions.Ready, true, 'Ready', `compiled; DatabaseConnection ${connection.name} is Ready`);
    }
  }
  status.conditions = conditions;
  return status;
}
