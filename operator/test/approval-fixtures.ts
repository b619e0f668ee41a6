import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ApprovalRecord, ApprovalRequest } from '@pgwarden/crds';
import { controlPlaneBin, run, type TestCluster } from '@pgwarden/e2e';
import { afterAll, beforeAll } from 'vitest';
import { type QueryApproval, queryApprovalObject, toRecord } from '../src/approval/query-approval.js';
import { APPROVER_ROLE, approverRole } from '../src/install/rbac.js';
import { applyObject } from './fixtures.js';

const pluginMain = fileURLToPath(new URL('../dist/kubectl-plugin/main.js', import.meta.url));

/**
 * `kubectl pgwarden …` as a user runs it: the built plugin on PATH as
 * kubectl-pgwarden, found and run by the real kubectl, with the user's
 * kubeconfig in KUBECONFIG. Returns a runner; the directory goes after the suite.
 */
export function usePgwardenPlugin(): (
  kubeconfig: string,
  args: readonly string[],
) => Promise<{ code: number | null; stdout: string; stderr: string }> {
  let dir = '';
  let kubectl = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubectl-pgwarden-'));
    const wrapper = join(dir, 'kubectl-pgwarden');
    await writeFile(wrapper, `#!/bin/sh\nexec '${process.execPath}' '${pluginMain}' "$@"\n`);
    await chmod(wrapper, 0o755);
    kubectl = await controlPlaneBin('kubectl');
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return (kubeconfig, args) =>
    run(kubectl, ['pgwarden', ...args], {
      env: { PATH: `${dir}:${process.env.PATH}`, KUBECONFIG: kubeconfig },
    });
}

/** The pgwarden-approver ClusterRole, bound in `namespace` to these groups and users (RoleBinding). */
export async function bindApprovers(
  k8s: TestCluster,
  namespace: string,
  name: string,
  subjects: { groups?: string[]; users?: string[]; serviceAccounts?: string[] },
): Promise<void> {
  await applyObject(k8s, approverRole());
  await applyObject(k8s, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: APPROVER_ROLE },
    subjects: [
      ...(subjects.groups ?? []).map((g) => ({
        kind: 'Group',
        name: g,
        apiGroup: 'rbac.authorization.k8s.io',
      })),
      ...(subjects.users ?? []).map((u) => ({
        kind: 'User',
        name: u,
        apiGroup: 'rbac.authorization.k8s.io',
      })),
      ...(subjects.serviceAccounts ?? []).map((sa) => ({ kind: 'ServiceAccount', name: sa, namespace })),
    ],
  });
}

let sequence = 0;

/** A request as the operator makes it for a DELETE held in pod `pod` (service account `serviceAccount`). */
export function heldDelete(
  namespace: string,
  serviceAccount: string,
  overrides: Partial<ApprovalRequest> = {},
): { id: string; request: ApprovalRequest } {
  const now = Date.now();
  sequence += 1;
  return {
    id: `apr-test${now.toString(36)}${sequence}`,
    request: {
      statement: {
        protocol: 'extended',
        text: 'DELETE FROM orders WHERE id = $1',
        parameters: ['42'],
        digest: `${sequence.toString(16).padStart(4, '0')}${'ab'.repeat(30)}`,
        fingerprint: '0123456789abcdef',
      },
      requester: {
        clientAddress: '127.0.0.1:50000',
        clientUser: 'agent',
        session: 's-test',
        namespace,
        pod: `${serviceAccount}-pod`,
        serviceAccount,
      },
      policy: { name: 'analytics', hash: 'cd'.repeat(32), rule: 'deletes-need-approval', message: '' },
      approvers: { users: [], groups: ['db-approvers'] },
      requiredApprovals: 1,
      scope: { type: 'once', durationMs: null },
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + 3_600_000).toISOString(),
      ...overrides,
    },
  };
}

/** Creates the QueryApproval as the operator does (only it may), with its initial Pending status. */
export async function createAsOperator(
  k8s: TestCluster,
  operatorKubeconfig: string,
  namespace: string,
  held: { id: string; request: ApprovalRequest },
): Promise<void> {
  const object = queryApprovalObject(held.id, namespace, held.request);
  await k8s.kubectlOk(['create', '-f', '-'], {
    input: JSON.stringify(object),
    kubeconfig: operatorKubeconfig,
  });
  await k8s.kubectlOk(
    [
      'patch',
      'queryapproval',
      held.id,
      '-n',
      namespace,
      '--subresource=status',
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'add', path: '/status', value: toRecord(object).status }]),
    ],
    { kubeconfig: operatorKubeconfig },
  );
}

/** The stored QueryApproval as a record. */
export async function storedRecord(
  k8s: TestCluster,
  namespace: string,
  name: string,
): Promise<ApprovalRecord> {
  return toRecord(
    JSON.parse(
      await k8s.kubectlOk(['get', 'queryapproval', name, '-n', namespace, '-o', 'json']),
    ) as QueryApproval,
  );
}
