import { describe, expect, it } from 'vitest';
import { binds, type PodFacts, selects } from '../src/agent-access-policy/binding.js';

const pod = (serviceAccountName: string, labels: Record<string, string>): PodFacts => ({
  serviceAccountName,
  labels,
  active: true,
});

describe('subject binding', () => {
  it('evaluates every selector operator as the API server does', () => {
    const labels = { app: 'agent', tier: 'batch' };
    expect(selects({ matchLabels: { app: 'agent' } }, labels)).toBe(true);
    expect(selects({ matchLabels: { app: 'agent', tier: 'web' } }, labels)).toBe(false);
    expect(
      selects({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['batch', 'web'] }] }, labels),
    ).toBe(true);
    expect(
      selects({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['batch'] }] }, labels),
    ).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, labels)).toBe(
      true,
    );
    expect(selects({ matchExpressions: [{ key: 'app', operator: 'Exists' }] }, labels)).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, labels)).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, labels)).toBe(
      false,
    );
  });

  it('binds a pod only when every subject field holds, and nothing without subjects', () => {
    const subjects = { serviceAccounts: ['agent-sa'], podSelector: { matchLabels: { app: 'agent' } } };
    expect(binds(subjects, pod('agent-sa', { app: 'agent' }))).toBe(true);
    expect(binds(subjects, pod('default', { app: 'agent' }))).toBe(false);
    expect(binds(subjects, pod('agent-sa', {}))).toBe(false);
    expect(binds({ serviceAccounts: ['agent-sa'] }, pod('agent-sa', {}))).toBe(true);
    expect(binds(undefined, pod('agent-sa', { app: 'agent' }))).toBe(false);
    expect(binds({}, pod('agent-sa', { app: 'agent' }))).toBe(false);
  });
});
