import { describe, expect, vi } from 'vitest';
import { itUnless, useCluster } from '../../e2e/src/control-plane/vitest.js';
import {
  bindApprovers,
  createAsOperator,
  heldDelete,
  storedRecord,
  usePgwardenPlugin,
} from './approval-fixtures.js';
import { noWebhookHost, webhookHost } from './fixtures.js';
import { useOperatorProcesses } from './operator-process.js';
import { prepareOperatorCluster, untilOperatorUserKnown } from './operator-setup.js';

// Decisions on QueryApprovals through the real API server: users with client
// certificates run `kubectl pgwarden` (the built plugin, found by the real
// kubectl on PATH); the operator runs as a process with its install RBAC and
// serves the admission webhook that stamps who decided and applies the rules.

const operatorNs = 'pgwarden-system';
const ns = 'agents';
const webhookName = 'queryapprovals.decide.pgwarden.io';

describe('approval decisions through the API server', () => {
  const k8s = useCluster();
  let operatorKubeconfig = '';
  const startOperator = useOperatorProcesses(() => operatorKubeconfig);
  const pgwarden = usePgwardenPlugin();

  itUnless(webhookHost() === undefined ? noWebhookHost : undefined)(
    'approvers decide, stamped by the webhook; the agent, outsiders, second decisions and forged names are refused',
    async () => {
      const prepared = await prepareOperatorCluster(k8s(), {
        operatorNamespace: operatorNs,
        namespace: ns,
        serviceAccounts: ['analytics-agent', 'other-agent'],
      });
      operatorKubeconfig = prepared.kubeconfig;
      // Retention 5s: only the request that expires within the test is ever old enough to be deleted.
      const operator = await startOperator('approvals', [...prepared.serve, '--approval-retention', '5s']);
      // Writes through the decision webhook pass for the operator once it knows its own user name.
      await untilOperatorUserKnown(operator);

      const alice = await k8s().mintUser({ user: 'alice', groups: ['db-approvers'] });
      const bob = await k8s().mintUser({ user: 'bob', groups: ['db-approvers'] });
      const carol = await k8s().mintUser({ user: 'carol', groups: ['db-approvers'] });
      const mallory = await k8s().mintUser({ user: 'mallory', groups: ['developers'] });
      const agentUser = `system:serviceaccount:${ns}:analytics-agent`;
      const agentGroups = ['system:serviceaccounts', `system:serviceaccounts:${ns}`];
      const agent = await k8s().mintUser({ user: agentUser, groups: agentGroups });
      const otherAgent = await k8s().mintUser({
        user: `system:serviceaccount:${ns}:other-agent`,
        groups: agentGroups,
      });
      // mallory and other-agent get the role (RBAC lets them write the status) but are no approvers.
      await bindApprovers(k8s(), ns, 'approvers', {
        groups: ['db-approvers'],
        users: ['mallory'],
        serviceAccounts: ['other-agent'],
      });

      const approved = heldDelete(ns, 'analytics-agent');
      await createAsOperator(k8s(), operatorKubeconfig, ns, approved);

      // The queue as kubectl prints it.
      const queue = await k8s().kubectlOk(['get', 'queryapprovals', '-n', ns]);
      process.stdout.write(`kubectl get queryapprovals:\n${queue}`);
      expect(queue).toMatch(/NAME\s+PHASE\s+POLICY\s+RULE\s+POD\s+STATEMENT\s+DECIDED BY\s+AGE/);
      expect(queue).toMatch(
        new RegExp(
          `${approved.id}\\s+Pending\\s+analytics\\s+deletes-need-approval\\s+analytics-agent-pod\\s+DELETE FROM orders WHERE id = \\$1\\s+<no value>`,
        ),
      );
      const listed = await pgwarden(alice.kubeconfig, ['list', '-n', ns, '--pending']);
      expect(listed.stderr).toBe('');
      expect(listed.stdout).toContain(approved.id);
      const shown = await pgwarden(alice.kubeconfig, ['show', approved.id, '-n', ns]);
      expect(shown.stdout).toMatch(/Statement:\s+DELETE FROM orders WHERE id = \$1/);
      expect(shown.stdout).toMatch(/Parameters:\s+\$1 = '42'/);

      // The agent's own service account: no RBAC at all.
      const rbac = await pgwarden(agent.kubeconfig, ['approve', approved.id, '-n', ns]);
      expect(rbac.code).toBe(1);
      expect(rbac.stderr).toBe(
        `error: queryapprovals.pgwarden.io "${approved.id}" is forbidden: User "${agentUser}" cannot get resource "queryapprovals" in API group "pgwarden.io" in the namespace "${ns}"\n`,
      );

      // A user the policy does not name: RBAC lets her write, the webhook refuses.
      const outsider = await pgwarden(mallory.kubeconfig, ['approve', approved.id, '-n', ns]);
      expect(outsider.code).toBe(1);
      expect(outsider.stderr).toBe(
        `error: admission webhook "${webhookName}" denied the request: mallory is not an approver of policy "analytics" (approvers: groups db-approvers)\n`,
      );

      // An approver, with --kubeconfig instead of KUBECONFIG.
      const yes = await pgwarden('/nonexistent', [
        'approve',
        approved.id,
        '-n',
        ns,
        '--kubeconfig',
        alice.kubeconfig,
        '--reason',
        'ticket 42',
      ]);
      expect(yes.stderr).toBe('');
      expect(yes.stdout).toBe(`${approved.id} approved by alice (1 of 1); the statement may run\n`);
      const afterApprove = await storedRecord(k8s(), ns, approved.id);
      expect(afterApprove.status).toMatchObject({
        phase: 'Approved',
        decidedBy: 'alice',
        reason: 'ticket 42',
        approvals: [{ by: 'alice', reason: 'ticket 42' }],
      });
      expect(afterApprove.status.validUntil).not.toBeNull();

      expect((await pgwarden(alice.kubeconfig, ['list', '-n', ns, '--pending'])).stdout).toBe(
        'No approval requests found.\n',
      );
      expect((await pgwarden(alice.kubeconfig, ['list', '-n', ns])).stdout).toMatch(
        new RegExp(`${approved.id}\\s+Approved`),
      );

      // Decided is final: neither another approver nor a denial changes it.
      const again = await pgwarden(bob.kubeconfig, ['deny', approved.id, '-n', ns]);
      expect(again.stderr).toBe(
        `error: admission webhook "${webhookName}" denied the request: ${approved.id} is Approved; a decided request cannot change\n`,
      );
      expect((await storedRecord(k8s(), ns, approved.id)).status.phase).toBe('Approved');

      // A denial records who and why.
      const denied = heldDelete(ns, 'analytics-agent');
      await createAsOperator(k8s(), operatorKubeconfig, ns, denied);
      const no = await pgwarden(bob.kubeconfig, [
        'deny',
        denied.id,
        '-n',
        ns,
        '--reason',
        'not during business hours',
      ]);
      expect(no.stdout).toBe(`${denied.id} denied by bob; the statement will not run\n`);
      expect((await storedRecord(k8s(), ns, denied.id)).status).toMatchObject({
        phase: 'Denied',
        decidedBy: 'bob',
        reason: 'not during business hours',
        approvals: [],
      });

      // The agent's service account with RBAC of its own reaches the webhook: self-approval.
      const own = heldDelete(ns, 'other-agent');
      await createAsOperator(k8s(), operatorKubeconfig, ns, own);
      const self = await pgwarden(otherAgent.kubeconfig, ['approve', own.id, '-n', ns]);
      expect(self.stderr).toBe(
        `error: admission webhook "${webhookName}" denied the request: system:serviceaccount:${ns}:other-agent asked for ${own.id} and cannot decide it: self-approval is refused\n`,
      );

      // A forged approver in the payload is replaced by the one the API server authenticated.
      const forged = heldDelete(ns, 'analytics-agent');
      await createAsOperator(k8s(), operatorKubeconfig, ns, forged);
      const at = new Date().toISOString();
      await k8s().kubectlOk(
        [
          'patch',
          'queryapproval',
          forged.id,
          '-n',
          ns,
          '--subresource=status',
          '--type=merge',
          '-p',
          JSON.stringify({
            status: {
              phase: 'Approved',
              decidedBy: 'the-ceo',
              approvals: [{ by: 'the-ceo', at, reason: 'trust me' }],
              executions: [{ at, session: 's-x', commandTag: 'DELETE 99', rows: 99, error: null }],
            },
          }),
        ],
        { kubeconfig: carol.kubeconfig },
      );
      const stamped = (await storedRecord(k8s(), ns, forged.id)).status;
      expect(stamped).toMatchObject({
        phase: 'Approved',
        decidedBy: 'carol',
        approvals: [{ by: 'carol', reason: 'trust me' }],
      });
      expect(stamped.executions).toEqual([]);

      // Two approvers required: distinct ones, the same one twice is refused.
      const two = heldDelete(ns, 'analytics-agent', { requiredApprovals: 2 });
      await createAsOperator(k8s(), operatorKubeconfig, ns, two);
      expect((await pgwarden(alice.kubeconfig, ['approve', two.id, '-n', ns])).stdout).toBe(
        `${two.id} approved by alice (1 of 2); still Pending: another approver is needed\n`,
      );
      expect((await pgwarden(alice.kubeconfig, ['approve', two.id, '-n', ns])).stderr).toContain(
        `alice already approved ${two.id}; another approver is needed`,
      );
      expect((await pgwarden(bob.kubeconfig, ['approve', two.id, '-n', ns])).stdout).toBe(
        `${two.id} approved by bob (2 of 2); the statement may run\n`,
      );

      // Only the operator creates requests, even a cluster admin cannot; the spec never changes.
      const fake = heldDelete(ns, 'analytics-agent');
      const create = await k8s().kubectl(['create', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'pgwarden.io/v1alpha1',
          kind: 'QueryApproval',
          metadata: { name: fake.id, namespace: ns },
          spec: fake.request,
        }),
      });
      expect(create.stderr).toContain('QueryApprovals are created by the pgwarden operator');
      const edit = await k8s().kubectl([
        'patch',
        'queryapproval',
        approved.id,
        '-n',
        ns,
        '--type=merge',
        '-p',
        JSON.stringify({ spec: { statement: { text: 'DELETE FROM orders' } } }),
      ]);
      expect(edit.stderr).toContain(`the spec of QueryApproval ${approved.id} cannot change`);
      // Undecided at expiresAt: the leader marks it Expired, and it can no longer be decided.
      const expiring = heldDelete(ns, 'analytics-agent', {
        expiresAt: new Date(Date.now() + 3000).toISOString(),
      });
      await createAsOperator(k8s(), operatorKubeconfig, ns, expiring);
      const expired = await vi.waitFor(
        async () => {
          const record = await storedRecord(k8s(), ns, expiring.id);
          expect(record.status.phase).toBe('Expired');
          return record;
        },
        { timeout: 30_000, interval: 250 },
      );
      process.stdout.write(
        `approval expiry: expiresAt → phase Expired written ${Date.now() - Date.parse(expiring.request.expiresAt)} ms later (or less: measured at the poll that saw it)\n`,
      );
      expect(expired.status.decidedBy).toBeNull();
      expect((await pgwarden(alice.kubeconfig, ['approve', expiring.id, '-n', ns])).stderr).toContain(
        `${expiring.id} is Expired; a decided request cannot change`,
      );
      // --approval-retention after it expired, the leader deletes it.
      await vi.waitFor(
        async () =>
          expect((await k8s().kubectl(['get', 'queryapproval', expiring.id, '-n', ns])).stderr).toContain(
            'NotFound',
          ),
        { timeout: 30_000, interval: 250 },
      );
      process.stdout.write(
        `approval retention: deleted ${Date.now() - Date.parse(expiring.request.expiresAt)} ms after expiresAt (retention 5000 ms; at most 250 ms late by the poll)\n`,
      );
      expect(await storedRecord(k8s(), ns, denied.id)).toBeDefined();
      expect(operator.forbidden()).toEqual([]);
    },
  );
});
