import { DatabaseConnectionSpecSchema } from '@pgwarden/crds';
import { freePort, localControlPlane, usePostgres } from '@pgwarden/e2e';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { itLocalOnly, useCluster } from '../../e2e/src/control-plane/vitest.js';
import { DynamicRoles } from '../src/credentials/dynamic-roles.js';
import { GrantRoles } from '../src/credentials/grant-roles.js';
import { DatabaseConnectionController } from '../src/database-connection/controller.js';
import { kubeClients } from '../src/kube/clients.js';
import { SecretWatch } from '../src/kube/secret-watch.js';
import {
  applyObject,
  databaseConnection,
  logToStderr,
  manifestsDir as manifests,
  type StoredCondition,
  waitForCrds,
} from './fixtures.js';

// The DatabaseConnection reconciler against a real kube-apiserver and a real
// PostgreSQL: the controller runs in this process, everything it talks to is real.

const ns = 'db';

type Condition = StoredCondition;
interface Stored {
  metadata: { generation: number; resourceVersion: string };
  status?: { observedGeneration?: number; serverVersion?: string; tls?: boolean; conditions?: Condition[] };
}

describe('DatabaseConnection reconciler', () => {
  const k8s = useCluster();
  const pg = usePostgres({ tls: true });
  let controller: DatabaseConnectionController | undefined;
  let secrets: SecretWatch;

  const apply = (object: unknown) => applyObject(k8s(), object);
  const secret = (name: string, data: Record<string, string>) =>
    apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, stringData: data });
  const connection = (name: string, spec: Record<string, unknown>) =>
    apply(
      databaseConnection(
        { namespace: ns, name, port: pg().port, database: pg().database, secret: 'scram-role' },
        { connectTimeout: '5s', ...spec },
      ),
    );
  const get = async (name: string) =>
    JSON.parse(await k8s().kubectlOk(['get', 'dbconn', name, '-n', ns, '-o', 'json'])) as Stored;
  const condition = (stored: Stored, type: string) => stored.status?.conditions?.find((c) => c.type === type);
  /** Waits until Ready has this reason (and the status describes the current generation). */
  const waitForReason = (name: string, reason: string) =>
    vi.waitFor(
      async () => {
        const stored = await get(name);
        expect(condition(stored, 'Ready')?.reason).toBe(reason);
        expect(stored.status?.observedGeneration).toBe(stored.metadata.generation);
        return stored;
      },
      { timeout: 20_000, interval: 200 },
    );

  beforeAll(async () => {
    await k8s().kubectlOk(['apply', '-f', manifests]);
    await waitForCrds(k8s());
    await k8s().createNamespace(ns);
    const { user, password } = pg().users.scram;
    await secret('scram-role', { username: user, password });
    await secret('pg-ca', { 'ca.crt': pg().tls?.caPem ?? '' });
    await secret('wrong-ca', { 'ca.crt': pg().tls?.wrongCaPem ?? '' });
    const clients = kubeClients(k8s().kubeconfig);
    secrets = new SecretWatch(clients, logToStderr);
    await secrets.start();
    controller = new DatabaseConnectionController({
      clients,
      secrets,
      backoffMs: () => 200,
      log: logToStderr,
    });
    await controller.start();
  });
  afterAll(async () => {
    await controller?.stop();
    await secrets?.stop();
  });

  it('reports Ready and Reachable with the server version, for the current generation', async () => {
    await connection('plain', {});
    const stored = await waitForReason('plain', 'Connected');
    const version = await pg().psql('SHOW server_version');
    expect(stored.status).toMatchObject({ serverVersion: version, tls: false });
    expect(condition(stored, 'Ready')).toMatchObject({ status: 'True', message: `PostgreSQL ${version}` });
    expect(condition(stored, 'Reachable')).toMatchObject({ status: 'True', reason: 'Connected' });
    expect(condition(stored, 'Ready')?.observedGeneration).toBe(stored.metadata.generation);

    const row = await k8s().kubectlOk(['get', 'dbconn', 'plain', '-n', ns, '--no-headers']);
    expect(
      row
        .trim()
        .split(/\s{2,}/)
        .slice(0, 5),
    ).toEqual(['plain', '127.0.0.1', 'app', 'True', version]);
  });

  it('verifies the server certificate against the CA Secret (verify-full)', async () => {
    await connection('verified', { tls: { mode: 'verify-full', caSecretRef: { name: 'pg-ca' } } });
    const stored = await waitForReason('verified', 'Connected');
    expect(stored.status?.tls).toBe(true);
    expect(condition(stored, 'Ready')?.message).toMatch(/over TLS$/);
  });

  it('refuses a server certificate another CA signed', async () => {
    await connection('wrong-ca', { tls: { mode: 'verify-full', caSecretRef: { name: 'wrong-ca' } } });
    const stored = await waitForReason('wrong-ca', 'TlsVerificationFailed');
    expect(condition(stored, 'Reachable')).toMatchObject({
      status: 'False',
      reason: 'TlsVerificationFailed',
    });
    expect(condition(stored, 'Ready')?.message).toContain('server certificate not accepted');
  });

  it('reports a wrong password, and re-probes as soon as the Secret is fixed', async () => {
    await secret('stale-role', { username: pg().users.scram.user, password: 'wrong' });
    await connection('rotated', { credentials: { static: { secretRef: { name: 'stale-role' } } } });
    const failed = await waitForReason('rotated', 'AuthenticationFailed');
    expect(condition(failed, 'Ready')?.message).toContain(`refused role "${pg().users.scram.user}"`);
    // probeInterval is 1h: only the Secret watch can bring this back in time.
    await secret('stale-role', { username: pg().users.scram.user, password: pg().users.scram.password });
    await waitForReason('rotated', 'Connected');
  });

  it('waits for a missing Secret and probes when it appears', async () => {
    await connection('early', { credentials: { static: { secretRef: { name: 'later-role' } } } });
    const waiting = await waitForReason('early', 'SecretNotFound');
    expect(condition(waiting, 'Reachable')).toMatchObject({ status: 'Unknown', reason: 'SecretNotFound' });
    expect(condition(waiting, 'Ready')?.message).toBe(`Secret ${ns}/later-role not found`);
    await secret('later-role', { username: pg().users.scram.user, password: pg().users.scram.password });
    await waitForReason('early', 'Connected');
  });

  it('names a missing key and an unreachable port', async () => {
    await secret('no-password', { username: 'x' });
    await connection('keyless', { credentials: { static: { secretRef: { name: 'no-password' } } } });
    const keyless = await waitForReason('keyless', 'SecretKeyMissing');
    expect(condition(keyless, 'Ready')?.message).toBe(`Secret ${ns}/no-password has no key "password"`);

    await connection('nowhere', { port: await freePort() });
    const nowhere = await waitForReason('nowhere', 'ConnectionRefused');
    expect(condition(nowhere, 'Reachable')?.status).toBe('False');
  });

  it('re-probes on a spec change (new generation)', async () => {
    await connection('moving', { database: 'no_such_db' });
    await waitForReason('moving', 'DatabaseNotFound');
    await connection('moving', {});
    const stored = await waitForReason('moving', 'Connected');
    expect(stored.metadata.generation).toBe(2);
  });

  it('re-probes every probeInterval, and writes only when something changed', async () => {
    await connection('watched', { probeInterval: '1s' });
    const ready = await waitForReason('watched', 'Connected');
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect((await get('watched')).metadata.resourceVersion).toBe(ready.metadata.resourceVersion);

    await pg().kill();
    try {
      const down = await waitForReason('watched', 'ConnectionRefused');
      // The last version seen stays visible while the server is down.
      expect(down.status?.serverVersion).toBe(ready.status?.serverVersion);
    } finally {
      await pg().start();
    }
    await waitForReason('watched', 'Connected');
  });

  it('probes a dynamic connection as its admin role, and names what the admin role lacks', async () => {
    const { user, password } = pg().users.scram;
    await pg().psql(`ALTER ROLE ${user} CREATEROLE; CREATE ROLE agent_reader NOLOGIN;`);
    await secret('roles-admin', { username: user, password });
    const dynamic = (memberOf: string[], adminSecret = 'roles-admin') => ({
      credentials: { dynamic: { adminSecretRef: { name: adminSecret }, memberOf } },
    });
    await connection('per-grant', dynamic(['agent_reader']));
    const ready = await waitForReason('per-grant', 'Connected');
    expect(condition(ready, 'Reachable')?.status).toBe('True');

    await connection('per-grant-typo', dynamic(['agent_reader', 'agent_raeder']));
    const typo = await waitForReason('per-grant-typo', 'MemberRoleNotFound');
    expect(condition(typo, 'Reachable')?.status).toBe('True');
    expect(condition(typo, 'Ready')?.message).toBe(
      'memberOf names roles the database does not have: "agent_raeder"',
    );

    const weak = pg().users.md5;
    await secret('weak-admin', { username: weak.user, password: weak.password });
    await connection('per-grant-weak', dynamic(['agent_reader'], 'weak-admin'));
    const refused = await waitForReason('per-grant-weak', 'AdminPrivilegesMissing');
    expect(condition(refused, 'Ready')?.message).toContain(`"${weak.user}" cannot create roles`);
  });

  it('issues per-grant roles through the admin Secret, revokes a pod’s, and sweeps expired ones on each pass', async () => {
    const roles = new DynamicRoles();
    const grantRoles = new GrantRoles(kubeClients(k8s().kubeconfig), roles);
    const spec = DatabaseConnectionSpecSchema.parse(
      databaseConnection(
        { namespace: ns, name: 'per-grant', port: pg().port, database: pg().database, secret: 'unused' },
        { credentials: { dynamic: { adminSecretRef: { name: 'roles-admin' }, memberOf: ['agent_reader'] } } },
      ).spec,
    );
    const subject = (pod: string) => ({ namespace: ns, pod, podUid: `uid-${pod}`, serviceAccount: 'agent' });
    const issue = (pod: string, expiresAt: Date) =>
      grantRoles.issue({
        subject: subject(pod),
        policyRef: { namespace: ns, name: 'readers' },
        connectionRef: { namespace: ns, name: 'per-grant' },
        connection: spec,
        expiresAt,
      });
    const exists = async (role: string) =>
      (await pg().psql(`SELECT count(*) FROM pg_roles WHERE rolname = '${role.replaceAll("'", "''")}'`)) ===
      '1';

    const kept = await issue('kept', new Date(Date.now() + 600_000));
    const revoked = await issue('revoked', new Date(Date.now() + 600_000));
    const expired = await issue('expired', new Date(Date.now() - 1_000));
    expect(
      await pg().psql(`SELECT string_agg(g.rolname, ',') FROM pg_auth_members m
      JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member
      WHERE r.rolname = '${kept.user}'`),
    ).toBe('agent_reader');

    expect(await grantRoles.revoke(subject('revoked'))).toEqual([revoked.user]);
    expect(await exists(revoked.user)).toBe(false);

    // The controller's next pass (here: a spec change) sweeps the expired role.
    const sweeper = new DatabaseConnectionController({
      clients: kubeClients(k8s().kubeconfig),
      roles,
      secrets,
      backoffMs: () => 200,
    });
    await sweeper.start();
    try {
      await vi.waitFor(async () => expect(await exists(expired.user)).toBe(false), {
        timeout: 20_000,
        interval: 200,
      });
    } finally {
      await sweeper.stop();
    }
    expect(await exists(kept.user)).toBe(true);
  });

  itLocalOnly('restarting kube-apiserver needs the local control plane')(
    'keeps watching across a kube-apiserver restart',
    async () => {
      await secret('restart-role', { username: pg().users.scram.user, password: 'wrong' });
      await connection('survivor', { credentials: { static: { secretRef: { name: 'restart-role' } } } });
      await waitForReason('survivor', 'AuthenticationFailed');
      const local = localControlPlane(k8s());
      await local.stopApiServer();
      await local.startApiServer();
      // Only a re-established Secret watch notices this (probeInterval is 1h).
      await secret('restart-role', { username: pg().users.scram.user, password: pg().users.scram.password });
      await vi.waitFor(
        async () => expect(condition(await get('survivor'), 'Ready')?.reason).toBe('Connected'),
        {
          timeout: 60_000,
          interval: 500,
        },
      );
    },
  );
});
