import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it, vi } from 'vitest';
import type { RoleMatch } from '../src/credentials/dynamic-roles.js';
import { type RevocationDeps, Revocations } from '../src/grant/revocations.js';

// Revocations with its collaborators faked: which roles each watch event
// revokes, and that only the leader acts. dynamic-grant-e2e.test.ts runs it
// against the real API server and PostgreSQL.

const NS = 'agents';

function pod(name: string, serviceAccount: string, labels: Record<string, string> = {}): V1Pod {
  return {
    metadata: { name, namespace: NS, uid: `uid-${name}`, labels },
    spec: { serviceAccountName: serviceAccount, containers: [] },
  };
}

function policy(subjects: Record<string, unknown>, name = 'readers') {
  return {
    apiVersion: 'pgwarden.io/v1alpha1',
    kind: 'AgentAccessPolicy',
    metadata: { name, namespace: NS },
    spec: {
      subjects,
      connection: 'orders',
      rules: [{ name: 'reads', match: { kinds: ['read'] }, action: 'allow' }],
    },
  };
}

function fakes(
  options: { leader?: boolean; policy?: unknown; pods?: V1Pod[]; policies?: unknown[]; fail?: boolean } = {},
) {
  const revoked: { namespace: string; match: RoleMatch }[] = [];
  const logs: { event: string; fields: Record<string, unknown> }[] = [];
  const deps: RevocationDeps = {
    async revoke(namespace, match) {
      if (options.fail) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      revoked.push({ namespace, match });
      return ['pgw_role'];
    },
    getPolicy: async () => options.policy,
    listPods: async () => options.pods ?? [],
    getPod: async (_namespace, name) => options.pods?.find((p) => p.metadata?.name === name),
    listPolicies: async () => options.policies ?? [],
    isLeader: () => options.leader ?? true,
    log: (event, fields) => logs.push({ event, fields }),
  };
  return { revocations: new Revocations(deps), revoked, logs };
}

describe('Revocations', () => {
  it('a deleted policy revokes every role made under it; a deleted pod every role made for it', async () => {
    const { revocations, revoked, logs } = fakes();
    revocations.policyDeleted(NS, 'readers');
    revocations.podDeleted(NS, 'agent-1', 'uid-agent-1');
    await vi.waitFor(() => expect(logs).toHaveLength(2));
    expect(revoked).toEqual([
      { namespace: NS, match: { policy: 'agents/readers' } },
      { namespace: NS, match: { podUid: 'uid-agent-1' } },
    ]);
    expect(logs.map((l) => [l.event, l.fields.cause, l.fields.roles])).toEqual([
      ['dynamic-roles-revoked', 'policy-deleted', ['pgw_role']],
      ['dynamic-roles-revoked', 'pod-deleted', ['pgw_role']],
    ]);
  });

  it('an edited policy revokes its roles of the listed pods it no longer binds, only those', async () => {
    const pods = [
      pod('kept', 'agent', { team: 'a' }),
      pod('also-kept', 'other', { team: 'a' }),
      pod('dropped', 'agent'),
    ];
    const { revocations, revoked, logs } = fakes({
      policy: policy({ podSelector: { matchLabels: { team: 'a' } } }),
      pods,
    });
    revocations.policyChanged(NS, 'readers');
    await vi.waitFor(() => expect(logs).toHaveLength(1));
    expect(revoked).toEqual([
      { namespace: NS, match: { policy: 'agents/readers', podUids: new Set(['uid-dropped']) } },
    ]);
    expect(logs[0]?.fields.cause).toBe('policy-unbinds');
  });

  it('an edited policy that still binds every pod, or is gone by the time it is read, revokes nothing', async () => {
    const bound = fakes({ policy: policy({ serviceAccounts: ['agent'] }), pods: [pod('a', 'agent')] });
    const gone = fakes({ policy: undefined, pods: [pod('a', 'agent')] });
    bound.revocations.policyChanged(NS, 'readers');
    gone.revocations.policyChanged(NS, 'readers');
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect([bound.revoked, gone.revoked, bound.logs, gone.logs]).toEqual([[], [], [], []]);
  });

  it('a relabelled pod loses its roles under the listed policies that no longer bind it, only those', async () => {
    const relabelled = pod('agent-1', 'agent', { team: 'b' });
    const { revocations, revoked, logs } = fakes({
      pods: [relabelled],
      policies: [
        policy({ podSelector: { matchLabels: { team: 'a' } } }, 'team-a'),
        policy({ serviceAccounts: ['agent'] }, 'agents'),
      ],
    });
    revocations.podRebound(NS, 'agent-1', 'uid-agent-1');
    await vi.waitFor(() => expect(logs).toHaveLength(1));
    expect(revoked).toEqual([
      { namespace: NS, match: { podUid: 'uid-agent-1', policies: new Set(['agents/team-a']) } },
    ]);
    expect(logs[0]?.fields.cause).toBe('pod-unbound');
  });

  it('a relabelled pod that is gone or replaced (another uid) by the time it is read revokes nothing', async () => {
    const replaced = fakes({
      pods: [pod('agent-1', 'agent')],
      policies: [policy({ serviceAccounts: ['x'] })],
    });
    const gone = fakes({ policies: [policy({ serviceAccounts: ['x'] })] });
    replaced.revocations.podRebound(NS, 'agent-1', 'uid-of-the-deleted-one');
    gone.revocations.podRebound(NS, 'agent-1', 'uid-agent-1');
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect([replaced.revoked, gone.revoked, replaced.logs, gone.logs]).toEqual([[], [], [], []]);
  });

  it('a replica that does not lead revokes nothing; a failure is logged with its cause', async () => {
    const standby = fakes({ leader: false });
    standby.revocations.policyDeleted(NS, 'readers');
    standby.revocations.podDeleted(NS, 'agent-1', 'uid-agent-1');
    const failing = fakes({ fail: true });
    failing.revocations.policyDeleted(NS, 'readers');
    await vi.waitFor(() => expect(failing.logs).toHaveLength(1));
    expect(standby.revoked).toEqual([]);
    expect(standby.logs).toEqual([]);
    expect(failing.logs[0]).toEqual({
      event: 'dynamic-role-revoke-failed',
      fields: {
        namespace: NS,
        policy: 'readers',
        cause: 'policy-deleted',
        error: expect.stringContaining('ECONNREFUSED'),
      },
    });
  });
});
