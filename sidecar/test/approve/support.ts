import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ApprovalRecord, ApprovalRecordSchema } from '@pgwarden/crds';
import { type PostgresCluster, type RunResult, run } from '@pgwarden/e2e';
import { z } from 'zod';
import { waitFor } from '../integration/helpers.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';

const cliPath = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export const schemaSql = `
  CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance int NOT NULL);
  INSERT INTO accounts SELECT i, 'owner' || i, i * 10 FROM generate_series(1, 20) i;
  GRANT ALL ON ALL TABLES IN SCHEMA public TO PUBLIC;
`;

/** Reads allowed, writes to accounts held for approval with `approval` as spec.approval. */
export async function writeApprovalPolicy(approval: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-approval-policy-'));
  const file = join(dir, 'policy.json');
  const policy = {
    apiVersion: 'pgwarden.io/v1alpha1',
    kind: 'AgentAccessPolicy',
    metadata: { name: 'approving-agent' },
    spec: {
      access: 'read-write',
      rules: [
        {
          name: 'writes-need-approval',
          match: { kinds: ['write'], tables: ['public.accounts'] },
          action: 'approve',
          message: 'a human confirms every change to accounts',
        },
        { name: 'reads', match: { kinds: ['read', 'transaction', 'session'] }, action: 'allow' },
      ],
      approval,
    },
  };
  await writeFile(file, JSON.stringify(policy, null, 2));
  return file;
}

/** A proxy enforcing `policyFile` that keeps its approvals in `approvalDir`, its API on a free loopback port. */
export function startApprovalProxy(
  cluster: PostgresCluster,
  policyFile: string,
  approvalDir: string,
): Promise<TestProxy> {
  return startTestProxy(cluster, { policy: policyFile, approvalDir, approvalListen: '127.0.0.1:0' });
}

export function apiOf(proxy: TestProxy): string {
  const address = proxy.approvalAddress;
  if (!address) throw new Error('the proxy serves no approval API');
  return `127.0.0.1:${address.port}`;
}

/** `pgwarden approvals …` as a user runs it: the built CLI in its own process. */
export function approvalsCli(proxy: TestProxy, ...args: string[]): Promise<RunResult> {
  return run(process.execPath, [cliPath, 'approvals', ...args, '--api', apiOf(proxy)], {
    env: { PGWARDEN_APPROVAL_LISTEN: undefined },
  });
}

export async function listApprovals(proxy: TestProxy): Promise<ApprovalRecord[]> {
  const result = await approvalsCli(proxy, 'list', '--json');
  if (result.code !== 0) throw new Error(`approvals list failed: ${result.stderr}`);
  return z.array(ApprovalRecordSchema).parse(JSON.parse(result.stdout));
}

/** The pending request for `text` (as the approver sees it), once the proxy has made it. */
export function pendingFor(proxy: TestProxy, text: string): Promise<ApprovalRecord> {
  return waitFor(`a pending approval for ${text}`, async () =>
    (await listApprovals(proxy)).find(
      (r) => r.status.phase === 'Pending' && r.request.statement.text === text,
    ),
  );
}

/** The approval id an error or notice carries. */
export function approvalIdIn(text: string): string {
  const id = /apr-[0-9a-z]+/.exec(text)?.[0];
  if (!id) throw new Error(`no approval id in: ${text}`);
  return id;
}
