import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Grant, GrantSchema } from '@pgwarden/crds';
import { usePostgres } from '@pgwarden/e2e';
import pg from 'pg';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { useControlPlane } from '../../e2e/src/control-plane/vitest.js';
import { applyObject } from './fixtures.js';
import { boundToken, grantUrlOf, operatorCa, postGrant } from './grant-fixtures.js';
import { useGrantSidecars } from './grant-sidecar.js';
import { useOperatorProcesses } from './operator-process.js';
import { createAgentPod, prepareOperatorCluster, untilReady } from './operator-setup.js';

// Dynamic credentials through the real grant path: the operator as a process
// (install RBAC, real TokenReview), a DatabaseConnection with
// credentials.dynamic on a real PostgreSQL, tokens from the TokenRequest API
// bound to pods. The grant's credential is a role made for the pod; deleting
// the policy drops it and ends its session; a grant left to expire loses its
// role to the controller's sweep. Then the sidecar as a process in grant
// mode: its sessions run as the pod's role, under the policy. Without any
// sidecar asking, the operator still drops the roles of a deleted policy, of
// a policy edited to stop binding the pod, of a deleted pod and of a pod
// relabelled out of its policy's selector.

const operatorNs = 'pgwarden-system';
const ns = 'agents';
const GRANT_TTL = '4s';

describe('dynamic credentials through the grant API', () => {
  const k8s = useControlPlane();
  const cluster = usePostgres();
  let kubeconfig = '';
  const startOperator = useOperatorProcesses(() => kubeconfig);
  let serve: string[] = [];
  let grantUrl = '';

  const startSidecar = useGrantSidecars();

  /** A pod of `serviceAccount` and a token bound to it (audience pgwarden.io), as the kubelet would mount. */
  const podToken = async (name: string, serviceAccount: string) =>
    boundToken(k8s(), await createAgentPod(k8s(), ns, name, serviceAccount));
  const startOperatorReady = async (grantTtl = GRANT_TTL) =>
    untilReady(
      await startOperator('dynamic', [...serve, '--leader-elect', 'false', '--grant-ttl', grantTtl]),
    );
  const policy = (name: string, serviceAccount: string) =>
    applyObject(k8s(), {
      apiVersion: 'pgwarden.io/v1alpha1',
      kind: 'AgentAccessPolicy',
      metadata: { name, namespace: ns },
      spec: {
        subjects: { serviceAccounts: [serviceAccount] },
        connection: 'orders',
        rules: [{ name: 'reads', match: { kinds: ['read'] }, action: 'allow' }],
      },
    });
  const role = async (name: string) =>
    cluster().psql(
      `SELECT r.rolconnlimit || ' ' || coalesce(string_agg(g.rolname, ',' ORDER BY g.rolname), '')
         FROM pg_roles r LEFT JOIN pg_auth_members m ON m.member = r.oid LEFT JOIN pg_roles g ON g.oid = m.roleid
        WHERE r.rolname = '${name.replaceAll("'", "''")}' GROUP BY r.rolconnlimit`,
    );
  const connect = async (grant: Grant) => {
    const client = new pg.Client({
      host: cluster().host,
      port: cluster().port,
      database: cluster().database,
      user: grant.credential.user,
      password: grant.credential.password,
    });
    client.on('error', () => {});
    await client.connect();
    return client;
  };
  const loginCode = (grant: Grant) =>
    connect(grant).then(
      async (client) => {
        await client.end();
        return 'ok';
      },
      (error: { code?: string }) => error.code,
    );

  beforeAll(async () => {
    ({ kubeconfig, serve } = await prepareOperatorCluster(k8s(), {
      operatorNamespace: operatorNs,
      namespace: ns,
      serviceAccounts: ['reporter', 'batch', 'viewer', 'auditor', 'labelled'],
    }));
    grantUrl = grantUrlOf(serve);

    // Per-grant roles log in over TCP like any role; the harness's pg_hba.conf lists only its own.
    await appendFile(join(cluster().dataDir, 'pg_hba.conf'), 'host\tall\tall\t127.0.0.1/32\tscram-sha-256\n');
    await cluster().psql(`
      CREATE ROLE orders_admin LOGIN CREATEROLE PASSWORD 'admin-pw-not-in-any-log';
      CREATE ROLE orders_reader NOLOGIN;
      CREATE TABLE orders (id int); INSERT INTO orders VALUES (1), (2);
      GRANT SELECT ON orders TO orders_reader;
      SELECT pg_reload_conf();`);
    await applyObject(k8s(), {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'orders-admin', namespace: ns },
      stringData: { username: 'orders_admin', password: 'admin-pw-not-in-any-log' },
    });
    await applyObject(k8s(), {
      apiVersion: 'pgwarden.io/v1alpha1',
      kind: 'DatabaseConnection',
      metadata: { name: 'orders', namespace: ns },
      spec: {
        host: '127.0.0.1',
        port: cluster().port,
        database: cluster().database,
        tls: { mode: 'disable' },
        credentials: {
          dynamic: {
            adminSecretRef: { name: 'orders-admin' },
            memberOf: ['orders_reader'],
            connectionLimit: 2,
          },
        },
        // The sweep of expired roles runs at every pass.
        probeInterval: '1s',
      },
    });
  }, 180_000);

  it('hands each pod its own role; deleting the policy drops it and ends its session; an expired one is swept', async () => {
    const operator = await startOperatorReady();
    const ca = await operatorCa(k8s(), operatorNs);
    await policy('reports', 'reporter');
    const token = await podToken('reporter-1', 'reporter');

    // The connection is Ready once the probe as orders_admin passed.
    const granted = await vi.waitFor(
      async () => {
        const answer = await postGrant(grantUrl, ca, token, {});
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        return GrantSchema.parse(answer.body);
      },
      { timeout: 30_000, interval: 500 },
    );
    expect(granted.credential).toMatchObject({ type: 'dynamic', validUntil: granted.expiresAt });
    expect(granted.credential.user).toMatch(/^pgw_agents\/reports\/reporter-1#[0-9a-f]{8}$/);
    expect(await role(granted.credential.user)).toBe('2 orders_reader');

    const session = await connect(granted);
    const { rows } = await session.query('SELECT current_user AS who, count(*)::int AS n FROM orders');
    expect(rows).toEqual([{ who: granted.credential.user, n: 2 }]);
    await expect(session.query('DELETE FROM orders')).rejects.toMatchObject({ code: '42501' });

    // A refresh keeps the role and its password.
    const refreshed = GrantSchema.parse((await postGrant(grantUrl, ca, token, {})).body);
    expect(refreshed.credential).toMatchObject({
      user: granted.credential.user,
      password: granted.credential.password,
    });

    // The sidecar's long poll: answered with the revocation when the policy goes, which drops the role.
    const codes: (string | undefined)[] = [];
    session.on('error', (error) => codes.push((error as { code?: string }).code));
    const poll = postGrant(grantUrl, ca, token, { knownVersion: refreshed.version, waitSeconds: 30 });
    await vi.waitFor(
      async () => expect(await operator.metric('pgwarden_operator_grant_long_polls')).toBe(1),
      {
        timeout: 30_000,
      },
    );
    const started = performance.now();
    await k8s().kubectlOk(['delete', 'agentaccesspolicy', 'reports', '-n', ns]);
    expect((await poll).status).toBe(403);
    await vi.waitFor(() => expect(codes).toContain('57P01'), { timeout: 20_000, interval: 20 });
    console.log(
      `dynamic grant e2e: kubectl delete agentaccesspolicy → the role's open session terminated: ${(performance.now() - started).toFixed(0)} ms`,
    );
    // The session ends first, then the role is dropped.
    await vi.waitFor(async () => expect(await role(granted.credential.user)).toBe(''), {
      timeout: 20_000,
      interval: 100,
    });
    expect(await loginCode(granted)).toBe('28P01');

    // Issued and never refreshed: the role stops logging in at the grant's expiry and the sweep drops it.
    await policy('batch', 'batch');
    const batch = GrantSchema.parse(
      (await postGrant(grantUrl, ca, await podToken('batch-1', 'batch'), {})).body,
    );
    expect(await loginCode(batch)).toBe('ok');
    await vi.waitFor(async () => expect(await role(batch.credential.user)).toBe(''), {
      timeout: 30_000,
      interval: 250,
    });
    const gone = Date.now() - Date.parse(batch.expiresAt);
    console.log(
      `dynamic grant e2e: expired role dropped by the sweep ${gone} ms after the grant's expiry (probeInterval 1s)`,
    );
    expect(gone).toBeGreaterThanOrEqual(0);
    expect(await loginCode(batch)).toBe('28P01');

    const logs = JSON.stringify(operator.logs());
    expect(logs).toContain('dynamic-role-dropped');
    expect(logs).not.toContain('admin-pw-not-in-any-log');
    expect(logs).not.toContain(granted.credential.password);
    expect(operator.forbidden()).toEqual([]);
  }, 240_000);
  it('with no sidecar asking, a deleted policy, a policy that stops binding, a deleted pod and a relabelled pod drop their roles', async () => {
    // Grants of a minute: whatever drops these roles within the test, it is not the sweep of expired ones.
    const operator = await startOperatorReady('60s');
    const ca = await operatorCa(k8s(), operatorNs);
    const grantFor = async (pod: string, serviceAccount = 'auditor', labels: Record<string, string> = {}) => {
      const token = await boundToken(k8s(), await createAgentPod(k8s(), ns, pod, serviceAccount, labels));
      return vi.waitFor(
        async () => {
          const answer = await postGrant(grantUrl, ca, token, {});
          expect(answer.status, JSON.stringify(answer.body)).toBe(200);
          return GrantSchema.parse(answer.body);
        },
        { timeout: 30_000, interval: 500 },
      );
    };
    /** Opens a session as the grant's role, runs `change`, and waits for the role to be gone and the session ended. */
    const droppedAfter = async (what: string, grant: Grant, change: () => Promise<unknown>) => {
      const session = await connect(grant);
      const codes: (string | undefined)[] = [];
      session.on('error', (error) => codes.push((error as { code?: string }).code));
      expect((await session.query('SELECT current_user AS who')).rows).toEqual([
        { who: grant.credential.user },
      ]);
      const started = performance.now();
      await change();
      await vi.waitFor(async () => expect(await role(grant.credential.user)).toBe(''), {
        timeout: 20_000,
        interval: 50,
      });
      console.log(
        `dynamic grant e2e, no sidecar: ${what} → role dropped ${(performance.now() - started).toFixed(0)} ms later (kubectl included)`,
      );
      await vi.waitFor(() => expect(codes).toContain('57P01'), { timeout: 10_000, interval: 20 });
      await session.end().catch(() => undefined);
      expect(await loginCode(grant)).toBe('28P01');
      const drop = operator
        .logs()
        .find((line) => line.msg === 'dynamic-role-dropped' && line.role === grant.credential.user);
      expect(drop).toMatchObject({ cause: 'revoked', sessionsTerminated: 1 });
    };

    await policy('audits', 'auditor');
    await droppedAfter('kubectl delete agentaccesspolicy', await grantFor('auditor-1'), () =>
      k8s().kubectlOk(['delete', 'agentaccesspolicy', 'audits', '-n', ns]),
    );

    await policy('edited', 'auditor');
    await droppedAfter('subjects edited to no longer name the pod', await grantFor('auditor-2'), () =>
      policy('edited', 'nobody'),
    );

    await policy('pods', 'auditor');
    await droppedAfter('kubectl delete pod', await grantFor('auditor-3'), () =>
      k8s().kubectlOk(['delete', 'pod', 'auditor-3', '-n', ns]),
    );

    await applyObject(k8s(), {
      apiVersion: 'pgwarden.io/v1alpha1',
      kind: 'AgentAccessPolicy',
      metadata: { name: 'labelled', namespace: ns },
      spec: {
        subjects: { serviceAccounts: ['labelled'], podSelector: { matchLabels: { team: 'audit' } } },
        connection: 'orders',
        rules: [{ name: 'reads', match: { kinds: ['read'] }, action: 'allow' }],
      },
    });
    await droppedAfter(
      'kubectl label pod out of the policy’s podSelector',
      await grantFor('labelled-1', 'labelled', { team: 'audit' }),
      () => k8s().kubectlOk(['label', 'pod', 'labelled-1', '-n', ns, 'team=other', '--overwrite']),
    );

    const causes = operator
      .logs()
      .filter((line) => line.msg === 'dynamic-roles-revoked')
      .map((line) => line.cause);
    expect(causes).toEqual(['policy-deleted', 'policy-unbinds', 'pod-deleted', 'pod-unbound']);
    expect(operator.forbidden()).toEqual([]);
  }, 240_000);

  it('the sidecar in grant mode reaches the database as the pod’s own role, until the policy goes', async () => {
    const operator = await startOperatorReady();
    await policy('viewers', 'viewer');
    const sidecar = await startSidecar(k8s(), await createAgentPod(k8s(), ns, 'viewer-1', 'viewer'), {
      grantUrl,
      caPem: await operatorCa(k8s(), operatorNs),
    });
    const session = new pg.Client({ connectionString: sidecar.url });
    const codes: (string | undefined)[] = [];
    session.on('error', (error) => codes.push((error as { code?: string }).code));
    await session.connect();
    const { rows } = await session.query('SELECT current_user AS who, count(*)::int AS n FROM orders');
    expect(rows[0]?.who).toMatch(/^pgw_agents\/viewers\/viewer-1#[0-9a-f]{8}$/);
    expect(rows[0]?.n).toBe(2);
    // The policy allows reads only: pgwarden refuses the write before the database sees it.
    await expect(session.query('DELETE FROM orders')).rejects.toMatchObject({ code: '42501' });
    const user = rows[0]?.who as string;
    // Refreshes (TTL 4s, refresh at half) keep the same role and the open session.
    const extended = () =>
      operator.logs().filter((line) => line.msg === 'dynamic-role-extended' && line.role === user).length;
    await vi.waitFor(() => expect(extended()).toBeGreaterThanOrEqual(2), { timeout: 30_000, interval: 200 });
    expect((await session.query('SELECT current_user AS who')).rows).toEqual([{ who: user }]);
    expect(await role(user)).toBe('2 orders_reader');

    await k8s().kubectlOk(['delete', 'agentaccesspolicy', 'viewers', '-n', ns]);
    // Whichever comes first ends it: the sidecar (FATAL 28000, access revoked) or the database (57P01, role dropped).
    await vi.waitFor(() => expect(['28000', '57P01']).toContain(codes[0]), { timeout: 30_000, interval: 50 });
    await vi.waitFor(async () => expect(await role(user)).toBe(''), { timeout: 20_000, interval: 100 });
    await session.end().catch(() => undefined);
    // The operator drops the role on the watch event itself, so the role can be gone before the
    // sidecar hears of the revocation: a login in between fails at the database (28P01).
    await vi.waitFor(
      async () => {
        const again = new pg.Client({ connectionString: sidecar.url });
        await expect(again.connect()).rejects.toMatchObject({ code: '28000' });
        await again.end().catch(() => undefined);
      },
      { timeout: 20_000, interval: 100 },
    );
    expect(sidecar.output()).not.toContain('admin-pw-not-in-any-log');
    expect(JSON.stringify(operator.logs())).toContain('dynamic-role-dropped');
  }, 240_000);
});
