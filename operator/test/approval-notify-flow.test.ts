import { ApprovalNotificationSchema } from '@pgwarden/crds';
import { pgBin, run, usePostgres } from '@pgwarden/e2e';
import { describe, expect, it, vi } from 'vitest';
import { useControlPlane } from '../../e2e/src/control-plane/vitest.js';
import { type QueryApproval, toRecord } from '../src/approval/query-approval.js';
import { bindApprovers, storedRecord } from './approval-fixtures.js';
import {
  HMAC_KEY,
  ordersDatabase,
  pgwardenSignatureValid,
  slackButtons,
  useNotificationChannels,
} from './approval-notify-support.js';
import { applyObject } from './fixtures.js';
import { grantUrlOf, operatorCa } from './grant-fixtures.js';
import { useGrantSidecars } from './grant-sidecar.js';
import { useOperatorProcesses } from './operator-process.js';
import { createAgentPod, prepareOperatorCluster, untilReady } from './operator-setup.js';

// An agent's DELETE from psql through the sidecar (grant mode) to Slack and
// back: the operator previews it on PostgreSQL, announces it to a webhook and
// to Slack with its impact, and an approver's button press releases the
// client. Real kube-apiserver, operator and sidecar processes, PostgreSQL and
// psql; the receivers stand in for Slack and the webhook endpoint.

const operatorNs = 'pgwarden-system';
const ns = 'agents';

describe('a held statement approved from Slack', () => {
  const k8s = useControlPlane();
  const pg = usePostgres();
  let kubeconfig = '';
  const startOperator = useOperatorProcesses(() => kubeconfig);
  const startSidecar = useGrantSidecars();
  const channels = useNotificationChannels();

  it('is previewed (rolled back), announced with its impact, approved by a button press and runs once', async () => {
    const prepared = await prepareOperatorCluster(k8s(), {
      operatorNamespace: operatorNs,
      namespace: ns,
      serviceAccounts: ['analytics-agent'],
    });
    kubeconfig = prepared.kubeconfig;
    const { serve } = prepared;
    const { file, hook, slackApi, slackResponses } = await channels(k8s(), operatorNs, {
      U0ALICE: { user: 'alice', groups: ['db-approvers'] },
    });
    await bindApprovers(k8s(), ns, 'approvers', { groups: ['db-approvers'] });
    await untilReady(
      await startOperator('slack-flow', [...serve, '--leader-elect', 'false', '--notifications', file]),
    );
    const caPem = await operatorCa(k8s(), operatorNs);

    await ordersDatabase(k8s(), pg(), ns, 1000);
    await applyObject(k8s(), {
      apiVersion: 'pgwarden.io/v1alpha1',
      kind: 'AgentAccessPolicy',
      metadata: { name: 'analytics', namespace: ns },
      spec: {
        subjects: { serviceAccounts: ['analytics-agent'] },
        connection: 'orders',
        access: 'read-write',
        rules: [
          { name: 'reads', match: { kinds: ['read', 'transaction', 'session'] }, action: 'allow' },
          { name: 'deletes-need-approval', match: { kinds: ['write'] }, action: 'approve' },
        ],
        approval: {
          approvers: { groups: ['db-approvers'] },
          wait: { mode: 'wait', limit: '60s' },
          impactPreview: { enabled: true, statementTimeout: '2s' },
        },
      },
    });
    const sidecar = await startSidecar(k8s(), await createAgentPod(k8s(), ns, 'agent-a', 'analytics-agent'), {
      grantUrl: grantUrlOf(serve),
      caPem,
    });

    const started = performance.now();
    const deleting = run(
      pgBin('psql'),
      ['-X', '-d', sidecar.url, '-c', 'DELETE FROM orders WHERE id <= 42'],
      {
        env: { PGCONNECT_TIMEOUT: '10' },
        timeoutMs: 120_000,
      },
    );
    // The Pending notification goes out once the preview is recorded, and carries it.
    await vi.waitFor(() => expect(hook.received.length).toBeGreaterThanOrEqual(1), {
      timeout: 30_000,
      interval: 100,
    });
    const announced = performance.now();
    const pending = hook.received[0];
    expect(pending && pgwardenSignatureValid(HMAC_KEY, pending)).toBe(true);
    const body = ApprovalNotificationSchema.parse(JSON.parse(pending?.body ?? ''));
    expect(body).toMatchObject({
      event: 'Pending',
      approval: {
        namespace: ns,
        statement: { text: 'DELETE FROM orders WHERE id <= 42' },
        requester: { pod: 'agent-a', serviceAccount: 'analytics-agent' },
        policy: { name: 'analytics', rule: 'deletes-need-approval' },
        impact: { result: 'Previewed', rowsAffected: 42 },
      },
    });
    const name = body.approval.name;
    expect(await pg().psql('SELECT count(*) FROM orders WHERE id <= 42')).toBe('42');
    await vi.waitFor(() => expect(slackApi.received).toHaveLength(1), { timeout: 30_000 });
    expect(slackApi.received[0]?.body).toContain('*42 rows*');
    expect(slackApi.received[0]?.body).toContain(`"value":"${ns}/${name}"`);

    const press = await slackButtons(
      k8s(),
      operatorNs,
      serve,
      { namespace: ns, name },
      `${slackResponses.url}/r`,
    );
    const pressed = performance.now();
    expect(await press('U0ALICE', 'approve')).toEqual({ status: 200, text: '*Approved* by alice via Slack' });
    const deleted = await deleting;
    const released = performance.now();
    expect(deleted.stdout).toBe('DELETE 42\n');
    expect(await pg().psql('SELECT count(*) FROM orders')).toBe('958');
    await vi.waitFor(
      async () =>
        expect((await storedRecord(k8s(), ns, name)).status).toMatchObject({
          phase: 'Executed',
          decidedBy: 'alice',
          reason: 'approved in Slack by slack-u0alice (U0ALICE)',
          executions: [{ commandTag: 'DELETE 42', rows: 42 }],
          impact: { result: 'Previewed', rowsAffected: 42 },
        }),
      { timeout: 15_000, interval: 200 },
    );
    // Approved and Executed reach the webhook too, each signed, each once.
    await vi.waitFor(
      () =>
        expect(hook.received.map((r) => (JSON.parse(r.body) as { event: string }).event)).toEqual([
          'Pending',
          'Approved',
          'Executed',
        ]),
      { timeout: 30_000 },
    );
    expect(hook.received.every((r) => pgwardenSignatureValid(HMAC_KEY, r))).toBe(true);
    const all = JSON.parse(await k8s().kubectlOk(['get', 'queryapprovals', '-n', ns, '-o', 'json'])) as {
      items: QueryApproval[];
    };
    expect(all.items.map((o) => toRecord(o).status.phase)).toEqual(['Executed']);
    process.stdout.write(
      `slack flow: statement sent → previewed and announced ${(announced - started).toFixed(0)} ms; button press → client released ${(released - pressed).toFixed(0)} ms\n`,
    );
  });
});
