import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { V1Pod, V1TokenReviewStatus } from '@kubernetes/client-node';
import {
  type ApprovalRecord,
  type ApprovalStatus,
  type CompiledApproval,
  pendingStatus,
} from '@pgwarden/crds';
import { afterEach, describe, expect, it } from 'vitest';
import { ApprovalApi } from '../src/approval/approval-api.js';
import { ApprovalConflict, type ApprovalObjects } from '../src/approval/approval-objects.js';
import { decisionReviewer } from '../src/approval/decision-review.js';
import { policyApproval } from '../src/approval/policy-settings.js';
import { type QueryApproval, queryApprovalObject } from '../src/approval/query-approval.js';
import { TokenReviewBudget } from '../src/grant/pod-identity.js';
import type { KubeClients } from '../src/kube/clients.js';
import { heldDelete } from './approval-fixtures.js';
import { asInjected, TEST_SIDECAR } from './injected-pod.js';

// The decision webhook's reviewer and the approval API's refusals, with their
// collaborators faked (AdmissionRequests as the API server sends them; the
// TokenReview and the QueryApproval store in memory). approval-decisions and
// approval-flow run both against the real API server.

const NS = 'agents';
const TOKEN = 'projected-token';
const OPERATOR = 'system:serviceaccount:pgwarden-system:pgwarden-operator';

function stored(status?: Partial<ApprovalStatus>): QueryApproval {
  const { id, request } = heldDelete(NS, 'analytics-agent');
  const object = queryApprovalObject(id, NS, request);
  return status ? { ...object, status: { ...pending(), ...status } } : object;
}

const pending = pendingStatus;

function review(old: QueryApproval, written: unknown, user: string, groups: string[] = []) {
  return decisionReviewer(() => OPERATOR)({
    uid: 'u1',
    kind: { kind: 'QueryApproval' },
    operation: 'UPDATE',
    subResource: 'status',
    object: { ...old, status: written },
    oldObject: old,
    userInfo: { username: user, groups },
  });
}

const patchOf = (verdict: { patch?: string }) =>
  JSON.parse(Buffer.from(verdict.patch ?? '', 'base64').toString('utf8')) as {
    op: string;
    path: string;
    value: ApprovalStatus;
  }[];

describe('the decision webhook', () => {
  it('stamps the approver from userInfo over what was written, and reads a missing status as Pending', async () => {
    const old = stored();
    const at = new Date().toISOString();
    const written = {
      ...pending(),
      approvals: [{ by: 'the-ceo', at, reason: 'ok' }],
      decidedBy: 'the-ceo',
      phase: 'Executed',
    };
    const { verdict, result } = await review(old, written, 'alice', ['db-approvers']);
    expect(result).toBe('approved');
    const [op] = patchOf(verdict);
    expect(op).toMatchObject({ op: 'add', path: '/status' });
    expect(op?.value).toMatchObject({
      phase: 'Approved',
      decidedBy: 'alice',
      reason: 'ok',
      approvals: [{ by: 'alice' }],
    });
  });

  it('denies with the written reason; refuses writes that are no decision, creations by others, spec edits', async () => {
    const old = stored(pending());
    const denied = await review(old, { ...pending(), phase: 'Denied', reason: 'no' }, 'bob', [
      'db-approvers',
    ]);
    expect(patchOf(denied.verdict)[0]?.value).toMatchObject({
      phase: 'Denied',
      decidedBy: 'bob',
      reason: 'no',
    });

    const noDecision = await review(old, { ...pending(), executions: [] }, 'bob', ['db-approvers']);
    expect(noDecision.verdict).toMatchObject({ allowed: false, status: { code: 422, reason: 'Invalid' } });

    const reviewer = decisionReviewer(() => OPERATOR);
    const created = await reviewer({
      uid: 'u2',
      kind: { kind: 'QueryApproval' },
      operation: 'CREATE',
      object: old,
      userInfo: { username: 'admin', groups: ['system:masters'] },
    });
    expect(created.verdict.status?.message).toBe(
      `QueryApprovals are created by the pgwarden operator when a sidecar holds a statement; admin cannot create ${old.metadata.name}`,
    );
    const edited = await reviewer({
      uid: 'u3',
      kind: { kind: 'QueryApproval' },
      operation: 'UPDATE',
      object: { ...old, spec: { ...old.spec, requiredApprovals: 5 } },
      oldObject: old,
      userInfo: { username: 'alice', groups: [] },
    });
    expect(edited.verdict).toMatchObject({ allowed: false, status: { code: 403 } });
    const byOperator = await review(old, { ...pending(), phase: 'Expired' }, OPERATOR);
    expect(byOperator.verdict).toEqual({ allowed: true });
  });
});

/** QueryApprovals in memory, with resourceVersions, as ApprovalObjects keeps them in the API server. */
class MemoryObjects {
  readonly items = new Map<string, QueryApproval>();
  #version = 1;

  put(object: QueryApproval): void {
    this.items.set(object.metadata.name, {
      ...object,
      metadata: { ...object.metadata, resourceVersion: String(++this.#version) },
    });
  }
  async withFingerprint(_namespace: string, fingerprint: string) {
    return [...this.items.values()].filter((o) => o.spec.statement.fingerprint === fingerprint);
  }
  async get(_namespace: string, name: string) {
    return this.items.get(name);
  }
  async create(namespace: string, id: string, request: QueryApproval['spec']): Promise<ApprovalRecord> {
    this.put({ ...queryApprovalObject(id, namespace, request), status: pending() });
    return { id, request, status: pending() };
  }
  async update(_namespace: string, name: string, change: (record: ApprovalRecord) => ApprovalStatus) {
    const object = this.items.get(name);
    if (!object) throw new ApprovalConflict(404, `no approval request ${name}`);
    const status = change({ id: name, request: object.spec, status: object.status ?? pending() });
    this.put({ ...object, status });
    return { id: name, request: object.spec, status };
  }
  async remove(_namespace: string, name: string) {
    this.items.delete(name);
    return true;
  }
  async waitFor(_namespace: string, name: string) {
    return this.items.get(name);
  }
}

const identity = {
  async reviewToken(token: string): Promise<V1TokenReviewStatus> {
    if (token !== TOKEN) return { authenticated: false };
    return {
      authenticated: true,
      audiences: ['pgwarden.io'],
      user: {
        username: `system:serviceaccount:${NS}:analytics-agent`,
        extra: {
          'authentication.kubernetes.io/pod-name': ['agent-a'],
          'authentication.kubernetes.io/pod-uid': ['uid-a'],
        },
      },
    };
  },
  async readPod(): Promise<V1Pod> {
    return asInjected({
      metadata: { name: 'agent-a', namespace: NS, uid: 'uid-a' },
      spec: { serviceAccountName: 'analytics-agent', containers: [{ name: 'agent', image: 'agent:1' }] },
    });
  },
  expectedSidecar: () => TEST_SIDECAR,
};

const settings: CompiledApproval = {
  approvers: { users: [], groups: ['db-approvers'] },
  timeoutMs: 3_600_000,
  wait: { mode: 'wait', limitMs: 30_000 },
  scope: { type: 'once', durationMs: null },
  requiredApprovals: 1,
};

let server: Server | undefined;
afterEach(async () => {
  const closing = server;
  server = undefined;
  if (closing) await new Promise((resolve) => closing.close(resolve));
});

async function serve(objects: MemoryObjects) {
  const api = new ApprovalApi({
    identity,
    reviewBudget: new TokenReviewBudget(),
    objects: objects as unknown as ApprovalObjects,
    settings: async (_ns, policy) =>
      policy === 'analytics' ? settings : `AgentAccessPolicy agents/${policy} has no spec.approval`,
    log: () => {},
  });
  server = createServer(api.handler);
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return async (method: string, path: string, body?: unknown, token: string | null = TOKEN) => {
    const response = await fetch(`http://127.0.0.1:${port}/v1/approvals${path}`, {
      method,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
  };
}

const ask = (policy = 'analytics') => {
  const { request } = heldDelete(NS, 'analytics-agent');
  return {
    statement: request.statement,
    policy: { ...request.policy, name: policy },
    session: 's-1',
    clientAddress: null,
    clientUser: 'agent',
  };
};

describe('the approval API', () => {
  it('creates a request with the requester from the token and the settings from the policy, and finds it again', async () => {
    const call = await serve(new MemoryObjects());
    const first = await call('POST', '', ask());
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      status: { phase: 'Pending' },
      request: {
        requester: { namespace: NS, pod: 'agent-a', serviceAccount: 'analytics-agent' },
        approvers: { groups: ['db-approvers'] },
      },
    });
    const again = await call('POST', '', {
      ...ask(),
      statement: (first.body as { request: { statement: unknown } }).request.statement,
    });
    expect([again.status, again.body?.id]).toEqual([200, first.body?.id]);
  });

  it('answers an ask with the approval that covers it: fingerprint scope, other values, until validUntil', async () => {
    const objects = new MemoryObjects();
    const call = await serve(objects);
    const covering = stored({
      phase: 'Executed',
      decidedBy: 'alice',
      validUntil: new Date(Date.now() + 60_000).toISOString(),
    });
    covering.spec = { ...covering.spec, scope: { type: 'fingerprint', durationMs: 3_600_000 } };
    objects.put(covering);
    const other = ask();
    expect(other.statement.digest).not.toBe(covering.spec.statement.digest);
    expect(await call('POST', '', other)).toMatchObject({
      status: 200,
      body: { id: covering.metadata.name },
    });
    const lapsed = {
      ...covering,
      status: { ...(covering.status as ApprovalStatus), validUntil: new Date(Date.now() - 1).toISOString() },
    };
    objects.put(lapsed);
    expect((await call('POST', '', ask())).status).toBe(201);
  });

  it('refuses without a token, for a policy without approvals, bad bodies, unknown requests, a second run of a single-use approval, and withdrawing a decided one', async () => {
    const objects = new MemoryObjects();
    const call = await serve(objects);
    expect((await call('POST', '', ask(), null)).status).toBe(401);
    expect(await call('POST', '', ask('plain'))).toEqual({
      status: 403,
      body: { error: 'AgentAccessPolicy agents/plain has no spec.approval' },
    });
    expect((await call('POST', '', { statement: 'DELETE' })).status).toBe(400);
    expect((await call('GET', '/apr-nowhere1?waitSeconds=0')).status).toBe(404);
    expect((await call('GET', '/apr-nowhere1?waitSeconds=soon')).status).toBe(400);
    expect((await call('GET', '/..%2Fsecrets?waitSeconds=0')).status).toBe(400);

    const approved = stored({
      phase: 'Approved',
      decidedBy: 'alice',
      validUntil: new Date(Date.now() + 60_000).toISOString(),
    });
    objects.put(approved);
    const name = approved.metadata.name;
    const run = await call('POST', `/${name}/executions`, { session: 's-1' });
    expect(run).toMatchObject({
      status: 200,
      body: { execution: 0, record: { status: { phase: 'Executed' } } },
    });
    expect(await call('POST', `/${name}/executions`, { session: 's-2' })).toEqual({
      status: 409,
      body: { error: `approval ${name} was already used to run the statement once` },
    });
    expect((await call('PUT', `/${name}/executions/0`, { commandTag: 'DELETE 1', error: null })).status).toBe(
      204,
    );
    expect(objects.items.get(name)?.status?.executions[0]).toMatchObject({ commandTag: 'DELETE 1', rows: 1 });
    expect((await call('PUT', `/${name}/executions/3`, { commandTag: 'DELETE 1', error: null })).status).toBe(
      404,
    );
    expect(await call('DELETE', `/${name}`)).toEqual({
      status: 409,
      body: { error: `${name} is Executed; only a pending request is withdrawn` },
    });
  });
});

describe('the approval settings of a policy', () => {
  const policyObject = (spec: Record<string, unknown>) => ({
    apiVersion: 'pgwarden.io/v1alpha1',
    kind: 'AgentAccessPolicy',
    metadata: { name: 'analytics', namespace: NS },
    spec: {
      subjects: { serviceAccounts: ['analytics-agent'] },
      connection: 'orders',
      rules: [{ name: 'deletes', match: { kinds: ['write'] }, action: 'approve' }],
      ...spec,
    },
  });
  const clientsWith = (object: unknown) =>
    ({ custom: { getNamespacedCustomObject: async () => object } }) as unknown as KubeClients;
  const pod = (serviceAccount: string): V1Pod => ({
    metadata: { name: 'agent-a', namespace: NS, labels: {} },
    spec: { serviceAccountName: serviceAccount, containers: [] },
  });

  it('come from the policy as it is now, only for a pod it binds', async () => {
    const approving = clientsWith(policyObject({ approval: { approvers: { groups: ['db-approvers'] } } }));
    expect(await policyApproval(approving, NS, 'analytics', pod('analytics-agent'))).toMatchObject({
      approvers: { users: [], groups: ['db-approvers'] },
      requiredApprovals: 1,
      scope: { type: 'once' },
    });
    expect(await policyApproval(approving, NS, 'analytics', pod('batch-agent'))).toBe(
      'AgentAccessPolicy agents/analytics does not bind pod agents/agent-a; its statements are not approved under it',
    );
    expect(await policyApproval(clientsWith(policyObject({})), NS, 'analytics', pod('analytics-agent'))).toBe(
      'AgentAccessPolicy agents/analytics has no spec.approval; nobody can approve its held statements',
    );
  });
});
