import type { V1Pod } from '@kubernetes/client-node';
import type { AgentAccessPolicySpec, LabelSelector } from '@pgwarden/crds';

export type Subjects = NonNullable<AgentAccessPolicySpec['subjects']>;

/** What binding depends on, and nothing else: a pod whose facts did not change needs no recount. */
export interface PodFacts {
  serviceAccountName: string;
  labels: Readonly<Record<string, string>>;
  /** Not finished (Succeeded/Failed) and not being deleted. */
  active: boolean;
}

export function podFacts(pod: V1Pod): PodFacts {
  const phase = pod.status?.phase;
  return {
    // The API server defaults an absent serviceAccountName to "default" on create.
    serviceAccountName: pod.spec?.serviceAccountName ?? 'default',
    labels: pod.metadata?.labels ?? {},
    active: phase !== 'Succeeded' && phase !== 'Failed' && !pod.metadata?.deletionTimestamp,
  };
}

/**
 * Whether a policy binds a pod of its namespace: every field of `subjects`
 * given must hold; a policy without subjects binds nothing (fail closed,
 * unlike an empty Kubernetes selector, which selects everything).
 */
export function binds(subjects: Subjects | undefined, pod: PodFacts): boolean {
  if (!subjects || (!subjects.serviceAccounts && !subjects.podSelector)) return false;
  if (subjects.serviceAccounts && !subjects.serviceAccounts.includes(pod.serviceAccountName)) return false;
  if (subjects.podSelector && !selects(subjects.podSelector, pod.labels)) return false;
  return true;
}

/** A LabelSelector evaluated as the API server does (all requirements ANDed). */
export function selects(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key);
    const value = labels[key];
    switch (operator) {
      case 'In':
        if (!has || !values.includes(value as string)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(value as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

export function samePodFacts(a: PodFacts | undefined, b: PodFacts | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
