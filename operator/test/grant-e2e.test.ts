import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { GrantRefusalSchema, GrantSchema } from '@pgwarden/crds';
import { freePort, pgBin, run, usePostgres } from '@pgwarden/e2e';
import nodePostgres from 'pg';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { useControlPlane } from '../../e2e/src/control-plane/vitest.js';
import { applyObject } from './fixtures.js';
import {
  boundToken,
  expiredCopy,
  type GrantAnswer,
  grantUrlOf,
  operatorCa,
  postGrant,
} from './grant-fixtures.js';
import { useGrantSidecars } from './grant-sidecar.js';
import { useOperatorProcesses } from './operator-process.js';
import {
  createAgentPod,
  optIn,
  ordersConnection,
  prepareOperatorCluster,
  untilReady,
} from './operator-setup.js';

// The grant API on real parts: the operator as a process with the install
// RBAC, the real kube-apiserver's TokenRequest and TokenReview, PostgreSQL
// behind a DatabaseConnection. Tokens are minted the way the kubelet gets
// them (bound to a pod, audience pgwarden.io); no kubelet runs, so the pods
// stay Pending, which is all the grant API looks at.

const operatorNs = 'pgwarden-system';
const ns = 'agents';

describe('grant API end to end', () => {
  const k8s = useControlPlane();
  const pg = usePostgres();
  let kubeconfig = '';
  const startOperator = useOperatorProcesses(() => kubeconfig);
  let serve: string[] = [];
  let grantUrl = '';
  let ca = '';
  const pods = new Map<string, V1Pod>();

  const createPod = async (name: string, serviceAccount: string, labels: Record<string, string> = {}) => {
    const pod = await createAgentPod(k8s(), ns, name, serviceAccount, labels);
    pods.set(name, pod);
    return pod;
  };
  const tokenFor = (pod: string, audience?: string) => boundToken(k8s(), pods.get(pod) as V1Pod, audience);
  const applyPolicy = () =>
    applyObject(k8s(), {
      apiVersion: 'pgwarden.io/v1alpha1',
      kind: 'AgentAccessPolicy',
      metadata: { name: 'analytics', namespace: ns },
      spec: {
        subjects: { serviceAccounts: ['analytics-agent'] },
        connection: 'orders',
        rules: [{ name: 'reads', match: { kinds: ['read'] }, action: 'allow' }],
      },
    });
  const operator = async (identity: string) => {
    const started = await untilReady(await startOperator(identity, [...serve, '--leader-elect', 'false']));
    ca = await operatorCa(k8s(), operatorNs);
    return started;
  };
  const refusal = (answer: GrantAnswer) => GrantRefusalSchema.parse(answer.body);
  const startSidecars = useGrantSidecars();
  /** `pgwarden proxy` as the webhook injects it (grant-sidecar.ts), for a pod made by createPod. */
  const startSidecar = (name: string) =>
    startSidecars(k8s(), pods.get(name) as V1Pod, { grantUrl, caPem: ca });

  // Shared by the tests: CRDs, the operator's RBAC and webhook address, the database and its objects, the pods.
  beforeAll(async () => {
    ({ kubeconfig, serve } = await prepareOperatorCluster(k8s(), {
      operatorNamespace: operatorNs,
      namespace: ns,
      serviceAccounts: ['analytics-agent', 'nobody'],
    }));
    grantUrl = grantUrlOf(serve);

    await pg().psql(
      `CREATE TABLE orders (id int PRIMARY KEY, total numeric);
       INSERT INTO orders VALUES (1, 10), (2, 20);
       GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO ${pg().users.scram.user};
       GRANT CREATE ON SCHEMA public TO ${pg().users.scram.user};`,
    );
    await ordersConnection(k8s(), pg(), ns);
    await applyPolicy();
    // Through the pod webhook, so an operator runs while they are created; each test starts its own.
    const injecting = await operator('injecting');
    await createPod('agent-1', 'analytics-agent');
    await createPod('lonely', 'nobody');
    await createPod('doomed', 'analytics-agent');
    injecting.child.kill('SIGTERM');
    await injecting.exited;
  }, 180_000);

  it('a pod bound by a policy gets a grant; no policy, wrong audience, expired and deleted-pod tokens are refused', async () => {
    const op = await operator('grants');

    // Issued: the pod's identity from the TokenReview, the compiled policy, the connection and its credential.
    const token = await tokenFor('agent-1');
    const issued = await postGrant(grantUrl, ca, token);
    expect(issued.status, JSON.stringify(issued.body)).toBe(200);
    const grant = GrantSchema.parse(issued.body);
    expect(grant).toMatchObject({
      subject: {
        namespace: ns,
        pod: 'agent-1',
        podUid: pods.get('agent-1')?.metadata?.uid,
        serviceAccount: 'analytics-agent',
      },
      policyRef: { namespace: ns, name: 'analytics' },
      upstream: { host: '127.0.0.1', port: pg().port, database: pg().database, sslMode: 'disable' },
      credential: { type: 'static', user: pg().users.scram.user, password: pg().users.scram.password },
    });
    expect(Date.parse(grant.expiresAt) - Date.parse(grant.issuedAt)).toBe(600_000);

    // Refused: each for its own reason, each said so.
    const lonely = await postGrant(grantUrl, ca, await tokenFor('lonely'));
    expect([lonely.status, refusal(lonely).reason]).toEqual([403, 'no-policy']);
    expect(refusal(lonely).message).toContain('binds pod agents/lonely (service account nobody)');

    const wrongAudience = await postGrant(grantUrl, ca, await tokenFor('agent-1', 'https://other.example'));
    expect([wrongAudience.status, refusal(wrongAudience).reason]).toEqual([401, 'wrong-audience']);

    const signingKey = join(k8s().tempDir, 'pki', 'sa.key');
    const expired = await postGrant(grantUrl, ca, await expiredCopy(token, signingKey));
    expect([expired.status, refusal(expired).reason]).toEqual([401, 'invalid-token']);
    expect(refusal(expired).message).toMatch(/expired/);

    const doomedToken = await tokenFor('doomed');
    expect((await postGrant(grantUrl, ca, doomedToken)).status).toBe(200);
    await k8s().kubectlOk(['delete', 'pod', 'doomed', '-n', ns, '--wait=true']);
    const deleted = await postGrant(grantUrl, ca, doomedToken);
    // Whichever notices first refuses it: the API server's TokenReview (its
    // bound-object check reads the pod) as invalid-token, or the operator's
    // own pod check as pod-gone. Both revoke.
    expect([
      [401, 'invalid-token'],
      [403, 'pod-gone'],
    ]).toContainEqual([deleted.status, refusal(deleted).reason]);
    console.log(
      `grant e2e: deleted pod's token refused: ${refusal(deleted).reason}: ${refusal(deleted).message}`,
    );

    const noToken = await postGrant(grantUrl, ca, null);
    expect([noToken.status, refusal(noToken).reason]).toEqual([401, 'invalid-token']);

    // Audited, without a token or password; counted.
    const audit = () =>
      op
        .logs()
        .filter((l) => l.msg === 'grant-issued' || l.msg === 'grant-refused')
        .map((l) => [l.msg, l.reason ?? 'issued']);
    await vi.waitFor(() => expect(audit()).toHaveLength(7));
    expect(audit()).toEqual([
      ['grant-issued', 'issued'],
      ['grant-refused', 'no-policy'],
      ['grant-refused', 'wrong-audience'],
      ['grant-refused', 'invalid-token'],
      ['grant-issued', 'issued'],
      ['grant-refused', refusal(deleted).reason],
      ['grant-refused', 'invalid-token'],
    ]);
    const logText = JSON.stringify(op.logs());
    expect(logText).not.toContain(pg().users.scram.password);
    expect(logText).not.toContain(token);
    expect(await op.metric('pgwarden_operator_grants_total', { result: 'issued' })).toBe(2);
    expect(await op.metric('pgwarden_operator_grants_total', { reason: 'wrong-audience' })).toBe(1);
    expect(op.forbidden()).toEqual([]);
  }, 180_000);

  it('kubectl delete agentaccesspolicy, kubectl delete pod and kubectl debug on the proxy answer a held long poll with a revocation', async () => {
    const op = await operator('revocation');
    await applyPolicy();
    const token = await tokenFor('agent-1');
    const first = GrantSchema.parse((await postGrant(grantUrl, ca, token)).body);
    const held = postGrant(grantUrl, ca, token, { knownVersion: first.version, waitSeconds: 60 });
    await vi.waitFor(async () => expect(await op.metric('pgwarden_operator_grant_long_polls')).toBe(1), {
      timeout: 15_000,
    });
    const started = performance.now();
    let answeredAt = 0;
    void held.then(() => {
      answeredAt = performance.now();
    });
    await k8s().kubectlOk(['delete', 'agentaccesspolicy', 'analytics', '-n', ns]);
    const answer = await held;
    console.log(
      `grant e2e: revocation latency (kubectl delete agentaccesspolicy start → held grant request answered 403): ${(answeredAt - started).toFixed(0)} ms`,
    );
    expect([answer.status, refusal(answer).reason]).toEqual([403, 'no-policy']);
    expect(await op.metric('pgwarden_operator_grant_long_polls')).toBe(0);

    // Deleting the pod, or kubectl debug attaching a container to the proxy (which could read its
    // memory), ends a held request the same way.
    await applyPolicy();
    const revokedBy = async (pod: string, what: string, act: string[], before?: () => Promise<void>) => {
      await createPod(pod, 'analytics-agent');
      await before?.();
      const podToken = await tokenFor(pod);
      const granted = GrantSchema.parse((await postGrant(grantUrl, ca, podToken)).body);
      const held = postGrant(grantUrl, ca, podToken, { knownVersion: granted.version, waitSeconds: 60 });
      await vi.waitFor(async () => expect(await op.metric('pgwarden_operator_grant_long_polls')).toBe(1), {
        timeout: 15_000,
      });
      const acting = performance.now();
      await k8s().kubectlOk(act);
      const answer = await held;
      console.log(
        `grant e2e: revocation latency (${what} start → held grant request answered 403): ${(performance.now() - acting).toFixed(0)} ms`,
      );
      return { answer, token: podToken };
    };
    const gone = await revokedBy('agent-2', 'kubectl delete pod', ['delete', 'pod', 'agent-2', '-n', ns]);
    expect([gone.answer.status, refusal(gone.answer).reason]).toEqual([403, 'pod-gone']);
    // kubectl debug attaching to the proxy: refused by the pod webhook; where the webhook does not see
    // it (here the namespace is no longer opted in), the grant API revokes the pod's access.
    const debug = (container: string) => [
      ...['debug', 'agent-4', '-n', ns, '--image', 'busybox:1', '--target', 'pgwarden-proxy'],
      `--container=${container}`,
    ];
    const debugged = await revokedBy(
      'agent-4',
      'kubectl debug --target pgwarden-proxy, namespace not opted in',
      debug('debugger'),
      async () => {
        const refused = await k8s().kubectl(debug('refused'));
        expect(refused.code).not.toBe(0);
        expect(refused.stderr).toContain(
          "pgwarden refuses this ephemeral container: ephemeral container refused targets pgwarden-proxy, so it shares the proxy’s processes; only the pgwarden proxy may reach the pod's token and memory",
        );
        await k8s().kubectlOk(['label', 'namespace', ns, 'pgwarden.io/inject-']);
      },
    );
    await optIn(k8s(), ns);
    expect([debugged.answer.status, refusal(debugged.answer).reason]).toEqual([403, 'token-exposed']);
    expect(refusal(debugged.answer).message).toContain(
      `pod ${ns}/agent-4: ephemeral container debugger targets pgwarden-proxy, so it shares the proxy’s processes`,
    );
    const again = await postGrant(grantUrl, ca, debugged.token);
    expect([again.status, refusal(again).reason]).toEqual([403, 'token-exposed']);
  }, 120_000);

  it('every replica serves grants: the standby answers as the leader does', async () => {
    const lease = ['--lease-duration', '4s', '--renew-deadline', '3s', '--retry-period', '500ms'];
    const leader = await startOperator('replica-a', [...serve, ...lease]);
    await vi.waitFor(async () => expect(await leader.metric('pgwarden_operator_leader')).toBe(1), {
      timeout: 30_000,
    });
    const port = await freePort();
    const standbyFlags = [...serve];
    standbyFlags[standbyFlags.indexOf('--webhook-listen') + 1] = `127.0.0.1:${port}`;
    const standby = await untilReady(await startOperator('replica-b', [...standbyFlags, ...lease]));
    expect(await standby.metric('pgwarden_operator_leader')).toBe(0);
    await applyPolicy();
    const answer = await postGrant(grantUrlOf(standbyFlags), ca, await tokenFor('agent-1'));
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(GrantSchema.parse(answer.body).policyRef.name).toBe('analytics');
    await vi.waitFor(() => expect(standby.logs().some((l) => l.msg === 'grant-issued')).toBe(true));
  }, 120_000);

  it('the sidecar in grant mode: psql through it is governed; kubectl delete agentaccesspolicy ends the open session (FATAL 28000) and refuses reconnects', async () => {
    const op = await operator('sidecar');
    await applyPolicy();
    await createPod('agent-3', 'analytics-agent');
    const sidecar = await startSidecar('agent-3');
    const psql = (sql: string) =>
      run(pgBin('psql'), ['-X', '-At', '-d', sidecar.url, '-c', sql], { env: { PGCONNECT_TIMEOUT: '10' } });

    const read = await psql('SELECT count(*) FROM orders');
    expect(read.stderr).toBe('');
    expect(read.stdout.trim()).toBe('2');
    const drop = await psql('DROP TABLE orders');
    expect(drop.code).not.toBe(0);
    expect(drop.stderr).toContain('pgwarden');
    expect(await pg().psql('SELECT count(*) FROM orders')).toBe('2');

    // One session stays open while the policy goes; the sidecar holds its long poll meanwhile.
    const session = new nodePostgres.Client({ connectionString: sidecar.url });
    await session.connect();
    expect((await session.query('SELECT count(*)::int AS n FROM orders')).rows).toEqual([{ n: 2 }]);
    await vi.waitFor(async () => expect(await op.metric('pgwarden_operator_grant_long_polls')).toBe(1), {
      timeout: 30_000,
    });
    const ended = new Promise<{ at: number; error: Error & { code?: string } }>((resolve) =>
      session.once('error', (error) => resolve({ at: performance.now(), error })),
    );
    const started = performance.now();
    await k8s().kubectlOk(['delete', 'agentaccesspolicy', 'analytics', '-n', ns]);
    const { at, error } = await ended;
    console.log(
      `grant e2e: revocation latency (kubectl delete agentaccesspolicy start → open psql session through the sidecar terminated, FATAL ${error.code}): ${(at - started).toFixed(0)} ms`,
    );
    expect(error.code).toBe('28000');
    expect(error.message).toContain('no AgentAccessPolicy');
    await session.end().catch(() => undefined);

    const reconnect = await psql('SELECT 1');
    expect(reconnect.code).not.toBe(0);
    expect(reconnect.stderr).toContain('no AgentAccessPolicy');
    const again = new nodePostgres.Client({ connectionString: sidecar.url });
    await expect(again.connect()).rejects.toMatchObject({ code: '28000' });
    await again.end().catch(() => undefined);

    expect(sidecar.output()).not.toContain(sidecar.token);
    expect(sidecar.output()).not.toContain(pg().users.scram.password);
  }, 240_000);
});
