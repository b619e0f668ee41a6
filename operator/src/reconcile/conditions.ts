import type { Condition, ConditionStatus } from '@pgwarden/crds';

export interface ConditionUpdate {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/**
 * The conditions list with `update` applied, as metav1 helpers do: the
 * transition time changes only when the status does, so a steady state
 * writes nothing new.
 */
export function setCondition(
  conditions: readonly Condition[],
  update: ConditionUpdate,
  observedGeneration: number,
  now: Date,
): Condition[] {
  const previous = conditions.find((c) => c.type === update.type);
  const next: Condition = {
    ...update,
    observedGeneration,
    lastTransitionTime:
      previous && previous.status === update.status ? previous.lastTransitionTime : rfc3339(now),
  };
  return [...conditions.filter((c) => c.type !== update.type), next].sort((a, b) =>
    a.type.localeCompare(b.type),
  );
}

/** Kubernetes stores times with second precision; writing more would make every probe a change. */
export function rfc3339(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** A condition whose status or reason differs from before: what an Event announces. */
export function conditionTransitions(
  previous: readonly Condition[] | undefined,
  next: readonly Condition[],
): Condition[] {
  return next.filter((condition) => {
    const before = previous?.find((c) => c.type === condition.type);
    return before?.status !== condition.status || before.reason !== condition.reason;
  });
}
