import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApprovalRecord } from '@pgwarden/crds';
import { pgBin, run, type SessionKey, sendCancelRequest, usePostgres } from '@pgwarden/e2e';
import nodePostgres from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { useControlPlane } from '../../e2e/src/control-plane/vitest.js';
import { eventsOf, sealedRecording, statementEvents } from '../../sidecar/test/record/proxy-support.js';
import type { QueryApproval } from '../src/approval/query-approval.js';
import { toRecord } from '../src/approval/query-approval.js';
import { bindApprovers, storedRecord, usePgwardenPlugin } from './approval-fixtures.js';
import { applyObject } from './fixtures.js';
import { grantUrlOf, operatorCa } from './grant-fixtures.js';
import { useGrantSidecars } from './grant-sidecar.js';
import { useOperatorProcesses } from './operator-process.js';
import {
  createAgentPod,
  ordersConnection,
  prepareOperatorCluster,
  untilOperatorUserKnown,
  untilReady,
} from './operator-setup.js';

// A held statement from an agent's client to a human and back, on real parts
// only: PostgreSQL, the real kube-apiserver (TokenRequest, TokenReview, the
// QueryApproval CRD, RBAC, the admission webhook), the operator as a process,
// the sidecar as a process in grant mode, psql and node-postgres as the agent,
// and `kubectl pgwarden` run by the real kubectl as users with client certificates.

const operatorNs = 'pgwarden-system';
const ns = 'agents';

describe('approval of a held statement through the operator', () => {
  const k8s = useControlPlane();
  const pg = usePostgres();
  let kubeconfig = '';
  const startOperator = useOperatorProcesses(() => kubeconfig);
  const startSidecar = useGrantSidecars();
  const pgwarden = usePgwardenPlugin();

  const policy = (name: string, serviceAccount: string, limit: string, recording?: Record<string, unknown>) =>
    applyObject(k8s(), {
      apiVersion: 'pgwarden.io/v1alpha1',
      kind: 'AgentAccessPolicy',
      metadata: { name, namespace: ns },
      spec: {
        subjects: { serviceAccounts: [serviceAccount] },
        connection: 'orders',
        access: 'read-write',
        rules: [
          { name: 'reads', match: { kinds: ['read', 'transaction', 'session'] }, action: 'allow' },
          {
            name: 'deletes-need-approval',
            match: { kinds: ['write'] },
            action: 'approve',
            message: 'a human confirms every change',
          },
        ],
        approval: { approvers: { groups: ['db-approvers'] }, wait: { mode: 'wait', limit } },
        ...(recording ? { recording } : {}),
      },
    });
  const approvals = async (): Promise<ApprovalRecord[]> =>
    (
      JSON.parse(await k8s().kubectlOk(['get', 'queryapprovals', '-n', ns, '-o', 'json'])) as {
        items: QueryApproval[];
      }
    ).items.map(toRecord);
  /** The one pending request of `pod` that is not among `known`, once the operator has made it. */
  const newPending = (pod: string, known: readonly string[] = []) =>
    vi.waitFor(
      async () => {
        const found = (await approvals()).filter(
          (r) => r.request.requester.pod === pod && r.status.phase === 'Pending' && !known.includes(r.id),
        );
        expect(found).toHaveLength(1);
        return found[0] as ApprovalRecord;
      },
      { timeout: 30_000, interval: 200 },
    );
  const rowExists = async (id: number) =>
    (await pg().psql(`SELECT count(*) FROM orders WHERE id = ${id}`)) === '1';

  it('waits, is approved by an approver and runs (Executed, DELETE 1); a denial reaches the client; past the wait limit the error names the approval and a re-run runs once', async () => {
    const prepared = await prepareOperatorCluster(k8s(), {
      operatorNamespace: operatorNs,
      namespace: ns,
      serviceAccounts: ['analytics-agent', 'batch-agent'],
    });
    kubeconfig = prepared.kubeconfig;
    const { serve } = prepared;
    const grantUrl = grantUrlOf(serve);
    const operator = await untilReady(
      await startOperator('approvals', [...serve, '--leader-elect', 'false']),
    );
    const caPem = await operatorCa(k8s(), operatorNs);

    await pg().psql(
      `CREATE TABLE orders (id int PRIMARY KEY, total numeric);
       INSERT INTO orders SELECT g, g * 10 FROM generate_series(40, 45) g;
       GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO ${pg().users.scram.user};`,
    );
    await ordersConnection(k8s(), pg(), ns);
    const sinkDir = await mkdtemp(join(tmpdir(), 'pgwarden-approval-recordings-'));
    await policy('analytics', 'analytics-agent', '60s', {
      sink: { type: 'dir', path: sinkDir },
      flushInterval: '50ms',
    });
    await policy('batch', 'batch-agent', '2s');
    const alice = await k8s().mintUser({ user: 'alice', groups: ['db-approvers'] });
    const bob = await k8s().mintUser({ user: 'bob', groups: ['db-approvers'] });
    await bindApprovers(k8s(), ns, 'approvers', { groups: ['db-approvers'] });
    const sidecarA = await startSidecar(
      k8s(),
      await createAgentPod(k8s(), ns, 'agent-a', 'analytics-agent'),
      {
        grantUrl,
        caPem,
      },
    );
    const psql = (sql: string, application = 'psql') =>
      run(
        pgBin('psql'),
        ['-X', '-v', 'VERBOSITY=verbose', '-d', `${sidecarA.url}?application_name=${application}`, '-c', sql],
        {
          env: { PGCONNECT_TIMEOUT: '10' },
          timeoutMs: 120_000,
        },
      );

    // Held, approved with kubectl pgwarden, run: the row is gone and the request says what ran.
    const started = performance.now();
    const deleting = psql('DELETE FROM orders WHERE id = 42', 'approved-delete');
    const held = await newPending('agent-a');
    const requested = performance.now();
    expect(held.request).toMatchObject({
      statement: { protocol: 'simple', text: 'DELETE FROM orders WHERE id = 42', parameters: [] },
      requester: { namespace: ns, pod: 'agent-a', serviceAccount: 'analytics-agent', clientUser: 'agent' },
      policy: { name: 'analytics', rule: 'deletes-need-approval', message: 'a human confirms every change' },
      approvers: { users: [], groups: ['db-approvers'] },
      requiredApprovals: 1,
      scope: { type: 'once', durationMs: null },
    });
    expect(await rowExists(42)).toBe(true);
    // The leader reports it as pending, with its age growing at each scrape.
    await vi.waitFor(
      async () =>
        expect(await operator.metric('pgwarden_operator_approvals_pending', { namespace: ns })).toBe(1),
      { timeout: 15_000, interval: 200 },
    );
    const firstAge = await operator.metric('pgwarden_operator_approval_oldest_pending_age_seconds', {
      namespace: ns,
    });
    await vi.waitFor(
      async () =>
        expect(
          await operator.metric('pgwarden_operator_approval_oldest_pending_age_seconds', { namespace: ns }),
        ).toBeGreaterThan(firstAge),
      { timeout: 15_000, interval: 200 },
    );
    const approve = await pgwarden(alice.kubeconfig, ['approve', held.id, '-n', ns, '--reason', 'ticket 42']);
    expect(approve.stderr).toBe('');
    const deleted = await deleting;
    const released = performance.now();
    expect(deleted.stdout).toBe('DELETE 1\n');
    expect(deleted.stderr).toContain(
      `NOTICE:  00000: pgwarden: statement held for approval ${held.id} by rule "deletes-need-approval"`,
    );
    expect(deleted.stderr).toContain(
      `HINT:  kubectl pgwarden show ${held.id} -n ${ns}; kubectl pgwarden approve ${held.id} -n ${ns}`,
    );
    expect(await rowExists(42)).toBe(false);
    // Decided: no longer pending, so the namespace's series is gone (metric() reads an absent series as 0).
    await vi.waitFor(
      async () =>
        expect((await operator.admin('/metrics')).body).not.toMatch(
          new RegExp(`pgwarden_operator_approvals_pending\\{namespace="${ns}"\\}`),
        ),
      { timeout: 15_000, interval: 200 },
    );
    await vi.waitFor(
      async () =>
        expect((await storedRecord(k8s(), ns, held.id)).status).toMatchObject({
          phase: 'Executed',
          decidedBy: 'alice',
          reason: 'ticket 42',
          executions: [{ commandTag: 'DELETE 1', rows: 1, error: null }],
        }),
      { timeout: 15_000, interval: 200 },
    );
    // The session recording has every step, with who approved it and why.
    const recording = await sealedRecording(sinkDir, 'approved-delete');
    expect(eventsOf(recording, 'session-start')[0]).toMatchObject({
      pod: { namespace: ns, name: 'agent-a' },
    });
    const steps = statementEvents(recording, 'DELETE FROM orders WHERE id = 42').filter(
      (e) => e.type === 'approval',
    );
    expect(steps).toMatchObject([
      { phase: 'requested', request: held.id },
      { phase: 'approved', request: held.id, approver: 'alice', reason: 'ticket 42' },
    ]);
    process.stdout.write(
      `approval flow: statement sent → QueryApproval seen ${(requested - started).toFixed(0)} ms; kubectl pgwarden approve → client released ${(released - requested).toFixed(0)} ms after the request was seen\n`,
    );

    // Denied: 42501 naming the approver and the reason; nothing changed.
    const refusing = psql('DELETE FROM orders WHERE id = 41');
    const toDeny = await newPending('agent-a');
    expect(
      (await pgwarden(bob.kubeconfig, ['deny', toDeny.id, '-n', ns, '--reason', 'not during the audit']))
        .stderr,
    ).toBe('');
    const refused = await refusing;
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `ERROR:  42501: pgwarden: approval ${toDeny.id} denied by bob: not during the audit`,
    );
    expect(await rowExists(41)).toBe(true);

    // The client cancels while it waits: the request is withdrawn (the QueryApproval goes), the statement fails with 57014.
    const canceller = new nodePostgres.Client({ connectionString: sidecarA.url });
    await canceller.connect();
    try {
      const waiting = canceller.query('DELETE FROM orders WHERE id = 45').catch((e: unknown) => e);
      const toCancel = await newPending('agent-a');
      await sendCancelRequest(sidecarA.url, canceller as unknown as SessionKey);
      const cancelled = (await waiting) as { code?: string; message: string };
      expect(cancelled.code).toBe('57014');
      expect(cancelled.message).toBe(
        `pgwarden: canceling statement due to user request; approval ${toCancel.id} withdrawn`,
      );
      // The withdrawal reaches the operator just after the client heard of it.
      await vi.waitFor(
        async () =>
          expect((await k8s().kubectl(['get', 'queryapproval', toCancel.id, '-n', ns])).stderr).toContain(
            'NotFound',
          ),
        { timeout: 15_000, interval: 200 },
      );
      expect(await rowExists(45)).toBe(true);
    } finally {
      await canceller.end();
    }

    // Past the wait limit (2s): the error names the approval; once approved the identical statement runs, once.
    const sidecarB = await startSidecar(k8s(), await createAgentPod(k8s(), ns, 'agent-b', 'batch-agent'), {
      grantUrl,
      caPem,
    });
    const client = new nodePostgres.Client({ connectionString: sidecarB.url });
    await client.connect();
    try {
      const sql = 'DELETE FROM orders WHERE id = $1';
      const failure = (await client.query(sql, [43]).catch((e: unknown) => e)) as {
        code?: string;
        message: string;
      };
      expect(failure.code).toBe('42501');
      const timedOut = /approval (apr-[0-9a-z]+)/.exec(failure.message)?.[1] as string;
      expect(failure.message).toContain(
        `pgwarden: statement needs approval ${timedOut} by rule "deletes-need-approval"`,
      );
      expect(failure.message).toContain('still pending after 2s');
      expect((await storedRecord(k8s(), ns, timedOut)).request.statement.parameters).toEqual(['43']);
      await pgwarden(alice.kubeconfig, ['approve', timedOut, '-n', ns]);
      expect((await client.query(sql, [43])).rowCount).toBe(1);
      expect(await rowExists(43)).toBe(false);
      // Used up: the same statement again asks anew, and so does another parameter value.
      const again = (await client.query(sql, [43]).catch((e: unknown) => e)) as Error;
      expect(again.message).toMatch(/statement needs approval apr-/);
      expect(again.message).not.toContain(timedOut);
      const other = (await client.query(sql, [44]).catch((e: unknown) => e)) as Error;
      const otherId = /approval (apr-[0-9a-z]+)/.exec(other.message)?.[1];
      expect(otherId).toBeDefined();
      expect(otherId).not.toBe(timedOut);
      expect(await rowExists(44)).toBe(true);
      expect((await storedRecord(k8s(), ns, timedOut)).status.executions).toMatchObject([
        { commandTag: 'DELETE 1', rows: 1 },
      ]);
    } finally {
      await client.end();
    }
    expect(operator.forbidden()).toEqual([]);
    expect(operator.logs().map((l) => l.msg)).toContain('approval-requested');
    const calls = (call: string, status: string) =>
      operator.metric('pgwarden_operator_approval_api_requests_total', { call, status });
    // 42, 41, 45 (cancelled), 43, 43 again, 44: six requests made; the run of 43 found its approval.
    expect(await calls('ask', '201')).toBe(6);
    expect(await calls('start', '200')).toBe(2);
    expect(await calls('withdraw', '204')).toBe(1);

    // The operator restarts while a statement waits: the sidecar asks the new one, the request was kept.
    const surviving = psql('DELETE FROM orders WHERE id = 40');
    const kept = await newPending('agent-a');
    const killed = performance.now();
    operator.child.kill('SIGKILL');
    await operator.exited;
    const restarted = await untilReady(
      await startOperator('approvals-restarted', [...serve, '--leader-elect', 'false']),
    );
    await untilOperatorUserKnown(restarted);
    expect((await pgwarden(alice.kubeconfig, ['approve', kept.id, '-n', ns])).stderr).toBe('');
    const survived = await surviving;
    expect(survived.stdout, `${survived.stderr}\n${sidecarA.output().slice(-3000)}`).toBe('DELETE 1\n');
    process.stdout.write(
      `approval flow: operator killed → new operator ready, approved, client released ${(performance.now() - killed).toFixed(0)} ms later\n`,
    );
    expect(await rowExists(40)).toBe(false);
    // Interrupted while it waited, or (killed sooner) while it asked.
    expect(sidecarA.output()).toMatch(/approval (wait|request) interrupted; asking again/);
  });
});
