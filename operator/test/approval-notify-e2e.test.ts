import { ApprovalNotificationSchema, type ApprovalRequest, pendingStatus } from '@pgwarden/crds';
import { usePostgres } from '@pgwarden/e2e';
import { describe, expect, vi } from 'vitest';
import { itUnless, useCluster } from '../../e2e/src/control-plane/vitest.js';
import { queryApprovalObject } from '../src/approval/query-approval.js';
import { bindApprovers, createAsOperator, heldDelete, storedRecord } from './approval-fixtures.js';
import {
  HMAC_KEY,
  ordersDatabase,
  pgwardenSignatureValid,
  SIGNING_SECRET,
  slackButtons,
  useNotificationChannels,
} from './approval-notify-support.js';
import { noWebhookHost, webhookHost } from './fixtures.js';
import { useOperatorProcesses } from './operator-process.js';
import { prepareOperatorCluster, untilOperatorUserKnown } from './operator-setup.js';

// The operator as a process on a real API server, with its install RBAC,
// reacting to QueryApprovals: the impact preview on a real PostgreSQL, signed
// webhook and Slack notifications to receivers started here, and Slack button
// presses (signed by the test as Slack signs) deciding through the API server.

const operatorNs = 'pgwarden-system';
const ns = 'agents';

describe('approval notifications and impact preview on the operator', () => {
  const k8s = useCluster();
  const pg = usePostgres();
  let operatorKubeconfig = '';
  const startOperator = useOperatorProcesses(() => operatorKubeconfig);
  const channels = useNotificationChannels();
  /** The stored request once its status.impact.result is `result`. */
  const impactReaches = (id: string, result: string) =>
    vi.waitFor(
      async () => {
        const record = await storedRecord(k8s(), ns, id);
        expect(record.status.impact?.result).toBe(result);
        return record;
      },
      { timeout: 30_000, interval: 200 },
    );
  /** Creates a QueryApproval as the operator with `status` as its first status (no Pending in between). */
  const createWithStatus = async (held: { id: string; request: ApprovalRequest }, status: unknown) => {
    await k8s().kubectlOk(['create', '-f', '-'], {
      input: JSON.stringify(queryApprovalObject(held.id, ns, held.request)),
      kubeconfig: operatorKubeconfig,
    });
    const patch = JSON.stringify([{ op: 'add', path: '/status', value: status }]);
    await k8s().kubectlOk(
      ['patch', 'queryapproval', held.id, '-n', ns, '--subresource=status', '--type=json', '-p', patch],
      { kubeconfig: operatorKubeconfig },
    );
  };

  itUnless(webhookHost() === undefined ? noWebhookHost : undefined)(
    'a held DELETE is previewed and announced; Slack presses decide as mapped approvers, under the same rules as kubectl',
    async () => {
      const prepared = await prepareOperatorCluster(k8s(), {
        operatorNamespace: operatorNs,
        namespace: ns,
        serviceAccounts: ['analytics-agent'],
      });
      operatorKubeconfig = prepared.kubeconfig;
      const { serve } = prepared;

      await ordersDatabase(k8s(), pg(), ns, 100);

      const {
        file: notificationsFile,
        hook,
        slackApi,
        slackResponses,
      } = await channels(k8s(), operatorNs, {
        U0ALICE: { user: 'alice', groups: ['db-approvers'] },
        U0BOB: { user: 'bob' },
        U0CAROL: { user: 'carol' },
        U0AGENT: { user: `system:serviceaccount:${ns}:analytics-agent`, groups: ['db-approvers'] },
      });
      // alice by group and carol by name may write approval status (RBAC); carol is no approver of the policy.
      await bindApprovers(k8s(), ns, 'approvers', { groups: ['db-approvers'], users: ['carol'] });

      const operator = await startOperator('notify', [...serve, '--notifications', notificationsFile]);
      await untilOperatorUserKnown(operator);
      await k8s().kubectlOk(['apply', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'pgwarden.io/v1alpha1',
          kind: 'AgentAccessPolicy',
          metadata: { name: 'analytics', namespace: ns },
          spec: {
            subjects: { serviceAccounts: ['analytics-agent'] },
            connection: 'orders',
            access: 'read-write',
            rules: [{ name: 'deletes-need-approval', match: { kinds: ['write'] }, action: 'approve' }],
            approval: {
              approvers: { groups: ['db-approvers'] },
              // Written out: the CRD defaults scope.duration for every scope type, which the policy webhook refuses for once.
              scope: { type: 'fingerprint', duration: '1h' },
              impactPreview: { enabled: true, statementTimeout: '2s' },
            },
          },
        }),
      });

      // The held DELETE: previewed once, rolled back, then announced with its impact.
      const held = heldDelete(ns, 'analytics-agent');
      await createAsOperator(k8s(), operatorKubeconfig, ns, held);
      const previewed = await impactReaches(held.id, 'Previewed');
      console.log('status.impact', previewed.status.impact);
      expect(previewed.status.impact).toMatchObject({ rowsAffected: 1, planRows: 1, error: null });
      expect(await pg().psql('SELECT count(*) FROM orders WHERE id = 42')).toBe('1');

      await vi.waitFor(() => expect(hook.received).toHaveLength(1), { timeout: 30_000 });
      const pending = hook.received[0];
      expect(pending && pgwardenSignatureValid(HMAC_KEY, pending)).toBe(true);
      const pendingBody = ApprovalNotificationSchema.parse(JSON.parse(pending?.body ?? ''));
      expect(pendingBody).toMatchObject({
        event: 'Pending',
        approval: { name: held.id, namespace: ns, impact: { result: 'Previewed', rowsAffected: 1 } },
      });
      await vi.waitFor(() => expect(slackApi.received).toHaveLength(1), { timeout: 30_000 });
      expect(slackApi.received[0]?.headers.authorization).toBe('Bearer xoxb-e2e');
      expect(slackApi.received[0]?.body).toContain(`"value":"${ns}/${held.id}"`);

      // Slack presses, on the operator's HTTPS listener.
      const press = await slackButtons(
        k8s(),
        operatorNs,
        serve,
        { namespace: ns, name: held.id },
        `${slackResponses.url}/respond`,
      );
      expect(await press('U0ALICE', 'approve', 'not-the-secret')).toEqual({
        status: 401,
        text: 'X-Slack-Signature does not match the signing secret',
      });
      expect(await press('U0MALLORY', 'approve')).toEqual({
        status: 200,
        text: 'Slack user U0MALLORY is not mapped to a Kubernetes user in channel "dba-slack"; nothing was decided',
      });
      expect(await press('U0BOB', 'approve')).toEqual({
        status: 200,
        text: `bob may not decide QueryApprovals in ${ns} (RBAC: no patch on queryapprovals/status)`,
      });
      expect(await press('U0CAROL', 'approve')).toEqual({
        status: 200,
        text: 'carol is not an approver of policy "analytics" (approvers: groups db-approvers)',
      });
      expect(await press('U0AGENT', 'approve')).toEqual({
        status: 200,
        text: `system:serviceaccount:${ns}:analytics-agent asked for ${held.id} and cannot decide it: self-approval is refused`,
      });
      expect((await storedRecord(k8s(), ns, held.id)).status.phase).toBe('Pending');

      expect(await press('U0ALICE', 'approve')).toEqual({
        status: 200,
        text: '*Approved* by alice via Slack',
      });
      const approved = await storedRecord(k8s(), ns, held.id);
      expect(approved.status).toMatchObject({
        phase: 'Approved',
        decidedBy: 'alice',
        reason: 'approved in Slack by slack-u0alice (U0ALICE)',
        approvals: [{ by: 'alice', reason: 'approved in Slack by slack-u0alice (U0ALICE)' }],
        impact: { result: 'Previewed', rowsAffected: 1 },
      });
      // A second press on the decided request is refused like a second kubectl decision.
      expect(await press('U0ALICE', 'deny')).toEqual({
        status: 200,
        text: `${held.id} is Approved; a decided request cannot change`,
      });
      // The message is updated after Slack got its answer: the presses that got past the signature
      // check each post one update, and only alice's approval replaces the message.
      await vi.waitFor(() => expect(slackResponses.received).toHaveLength(6), { timeout: 15_000 });
      const replaced = slackResponses.received.map(
        (r) => JSON.parse(r.body) as { replace_original: boolean },
      );
      expect(replaced.filter((m) => m.replace_original)).toHaveLength(1);

      // The decision is announced to the webhook; the Slack channel (Pending only) gets no new message,
      // but the one it posted is updated and loses its buttons.
      await vi.waitFor(() => expect(hook.received).toHaveLength(2), { timeout: 30_000 });
      await vi.waitFor(
        () => expect(slackApi.received.map((r) => r.path)).toEqual(['/chat.postMessage', '/chat.update']),
        {
          timeout: 30_000,
        },
      );
      const update = JSON.parse(slackApi.received[1]?.body ?? '') as {
        channel: string;
        ts: string;
        text: string;
      };
      expect(update).toMatchObject({
        channel: 'C0DBA',
        ts: '1.0',
        text: `:white_check_mark: Approved: \`${held.id}\` in \`${ns}\``,
      });
      expect(slackApi.received[1]?.body).not.toContain('"actions"');
      const decided = hook.received[1];
      expect(decided && pgwardenSignatureValid(HMAC_KEY, decided)).toBe(true);
      expect(decided?.headers['x-pgwarden-idempotency-key']).toMatch(/:Approved$/);
      expect(JSON.parse(decided?.body ?? '')).toMatchObject({
        event: 'Approved',
        approval: { decidedBy: 'alice' },
      });

      // A statement the preview must not run.
      const vacuum = heldDelete(ns, 'analytics-agent', {
        statement: {
          ...held.request.statement,
          text: 'VACUUM orders',
          parameters: [],
          digest: 'ef'.repeat(32),
        },
      });
      await createAsOperator(k8s(), operatorKubeconfig, ns, vacuum);
      const refused = await impactReaches(vacuum.id, 'Refused');
      expect(refused.status.impact?.error).toMatch(/^VacuumStmt is not previewed/);

      // The agent gives up on it (the approval API deletes a pending request it withdraws): Withdrawn.
      const events = (id: string) =>
        hook.received
          .map((r) => JSON.parse(r.body) as { event: string; approval: { name: string } })
          .filter((n) => n.approval.name === id)
          .map((n) => n.event);
      await vi.waitFor(() => expect(events(vacuum.id)).toEqual(['Pending']), { timeout: 30_000 });
      await k8s().kubectlOk(['delete', 'queryapproval', vacuum.id, '-n', ns], {
        kubeconfig: operatorKubeconfig,
      });
      await vi.waitFor(() => expect(events(vacuum.id)).toEqual(['Pending', 'Withdrawn']), {
        timeout: 30_000,
      });
      const withdrawn = hook.received.find((r) => r.body.includes('"event":"Withdrawn"'));
      expect(withdrawn && pgwardenSignatureValid(HMAC_KEY, withdrawn)).toBe(true);
      expect(withdrawn?.headers['x-pgwarden-idempotency-key']).toMatch(/:Withdrawn$/);

      // A request already decided when the operator first sees it is announced, never previewed.
      const decidedFirst = heldDelete(ns, 'analytics-agent', {
        statement: { ...held.request.statement, digest: '12'.repeat(32) },
      });
      await createWithStatus(decidedFirst, {
        ...pendingStatus(),
        phase: 'Denied',
        decidedBy: 'alice',
        reason: 'no',
        decidedAt: new Date().toISOString(),
      });
      await vi.waitFor(
        () => expect(hook.received.map((r) => JSON.parse(r.body).approval.name)).toContain(decidedFirst.id),
        { timeout: 30_000 },
      );
      expect((await storedRecord(k8s(), ns, decidedFirst.id)).status.impact).toBeUndefined();

      // A preview claimed 10 minutes ago by an operator that stopped: recorded as failed, not run, and announced.
      const abandoned = heldDelete(ns, 'analytics-agent', {
        statement: { ...held.request.statement, digest: '56'.repeat(32) },
      });
      const claimedAt = new Date(Date.now() - 10 * 60_000).toISOString();
      const claim = {
        result: 'Running',
        rowsAffected: null,
        planRows: null,
        plan: null,
        error: null,
        durationMs: null,
        at: claimedAt,
      };
      await createWithStatus(abandoned, { ...pendingStatus(), impact: claim });
      await vi.waitFor(
        () => expect(hook.received.map((r) => JSON.parse(r.body).approval.name)).toContain(abandoned.id),
        { timeout: 30_000 },
      );
      expect((await storedRecord(k8s(), ns, abandoned.id)).status.impact).toMatchObject({
        result: 'Failed',
        at: claimedAt,
        error: expect.stringMatching(
          /^no outcome 6\d\d s after the preview started: the operator stopped during it; a preview is not retried$/,
        ),
      });

      // Each preview ran once, whatever number of status writes followed.
      expect(await operator.metric('pgwarden_operator_impact_previews_total', { result: 'Previewed' })).toBe(
        1,
      );
      expect(await operator.metric('pgwarden_operator_impact_previews_total', { result: 'Refused' })).toBe(1);
      expect(await operator.metric('pgwarden_operator_impact_previews_total', { result: 'Failed' })).toBe(1);
      await vi.waitFor(async () =>
        expect(
          await operator.metric('pgwarden_operator_notifications_total', {
            channel: 'ops-webhook',
            result: 'delivered',
          }),
        ).toBe(6),
      );
      expect(
        await operator.metric('pgwarden_operator_slack_interactions_total', {
          channel: 'dba-slack',
          result: 'refused',
        }),
      ).toBe(4);
      expect(operator.forbidden()).toEqual([]);
      expect(JSON.stringify(operator.logs())).not.toContain(SIGNING_SECRET);
      expect(JSON.stringify(operator.logs())).not.toContain(HMAC_KEY);

      // An event older than maxEventAge (10m) when first seen is not sent: a request filed 20 minutes ago.
      const skippedOld = (p: typeof operator, id: string) =>
        p.logs().some((l) => l.msg === 'notification-skipped-old' && l.approval === `${ns}/${id}`);
      const old = heldDelete(ns, 'analytics-agent', {
        statement: { ...held.request.statement, digest: '34'.repeat(32) },
        createdAt: new Date(Date.now() - 20 * 60_000).toISOString(),
      });
      await createAsOperator(k8s(), operatorKubeconfig, ns, old);
      await vi.waitFor(() => expect(skippedOld(operator, old.id)).toBe(true), { timeout: 30_000 });
      const names = () =>
        hook.received.map((r) => (JSON.parse(r.body) as { approval: { name: string } }).approval.name);
      expect(names()).not.toContain(old.id);

      // Another operator process (a restart, a new leader) sends each approval's current phase again
      // under the same idempotency key, and previews nothing twice.
      const keys = (from: number) =>
        hook.received.slice(from).map((r) => String(r.headers['x-pgwarden-idempotency-key']));
      const sent = keys(0);
      const before = hook.received.length;
      operator.child.kill('SIGKILL');
      await operator.exited;
      const restarted = await startOperator('notify-2', [
        ...serve,
        '--notifications',
        notificationsFile,
        '--leader-elect',
        'false',
      ]);
      await vi.waitFor(() => expect(skippedOld(restarted, old.id)).toBe(true), { timeout: 30_000 });
      await vi.waitFor(() => expect(hook.received.length - before).toBe(3), { timeout: 30_000 });
      const resent = keys(before);
      console.log('re-sent after the restart:', resent);
      expect(resent.every((key) => sent.includes(key))).toBe(true);
      // Approved, Denied, and the abandoned preview's request, still pending (the VACUUM one is gone).
      expect(resent.filter((key) => key.endsWith(':Pending'))).toHaveLength(1);
      expect(await restarted.metric('pgwarden_operator_impact_previews_total', { result: 'Previewed' })).toBe(
        0,
      );
      expect(await restarted.metric('pgwarden_operator_impact_previews_total', { result: 'Refused' })).toBe(
        0,
      );
    },
  );
});
