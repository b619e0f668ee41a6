import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DynamicCredentialsSchema, type GrantCredential } from '@pgwarden/crds';
import { usePostgres } from '@pgwarden/e2e';
import pg from 'pg';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamicRoleError, DynamicRoles, type DynamicTarget } from '../src/credentials/dynamic-roles.js';
import { dynamicRoleName, type Grantee, roleComment, roleIdentity } from '../src/credentials/role-name.js';

// Per-grant roles on a real PostgreSQL: made, extended, revoked and swept
// through a CREATEROLE admin role (not a superuser), checked from the catalog
// and by logging in as them.

const adminPassword = `admin-${'s3cret'.repeat(3)}-pw`;
const reader = 'app reader "quoted"';
const writer = 'app_writer';

describe('dynamic roles', () => {
  // Every DDL statement in the server log, to show that passwords never reach it.
  const cluster = usePostgres({ settings: { log_statement: 'ddl' } });
  const logLines: string[] = [];
  const roles = new DynamicRoles({
    log: (event, fields) => logLines.push(`${event} ${JSON.stringify(fields)}`),
  });
  let target: DynamicTarget;

  const grantee = (pod: string, policy = 'readers', namespace = 'agents'): Grantee => ({
    subject: { namespace, pod, podUid: `uid-${pod}-${policy}`, serviceAccount: 'agent' },
    policyRef: { namespace, name: policy },
  });
  const inMinutes = (minutes: number) => new Date(Math.ceil(Date.now() / 1000) * 1000 + minutes * 60_000);
  const sql = (text: string) => cluster().psql(text);
  const catalog = async (role: string) => {
    const client = await admin();
    try {
      const { rows } = await client.query<{
        valid_until: Date;
        limit: number;
        member_of: string[];
        can_login: boolean;
      }>(
        `SELECT rolvaliduntil AS valid_until, rolconnlimit AS limit, rolcanlogin AS can_login,
                ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                       WHERE m.member = r.oid ORDER BY 1) AS member_of
           FROM pg_roles r WHERE rolname = $1`,
        [role],
      );
      return rows[0];
    } finally {
      await client.end();
    }
  };
  const admin = () => connect({ user: 'pgw_admin', password: adminPassword });
  const connect = async (credential: { user: string; password: string }) => {
    const client = new pg.Client({
      host: cluster().host,
      port: cluster().port,
      database: cluster().database,
      user: credential.user,
      password: credential.password,
    });
    client.on('error', () => {});
    await client.connect();
    return client;
  };
  /** The SQLSTATEs a session's errors carry, as they arrive (57P01 when the server terminates it). */
  const sqlStates = (session: pg.Client) => {
    const codes: (string | undefined)[] = [];
    session.on('error', (error) => codes.push((error as { code?: string }).code));
    return codes;
  };
  /** The SQLSTATE of a login attempt: 'ok' when it succeeds. */
  const login = async (credential: GrantCredential) => {
    try {
      const client = await connect(credential);
      await client.end();
      return 'ok';
    } catch (error) {
      return String((error as { code?: string }).code);
    }
  };

  beforeAll(async () => {
    // Any role may log in over TCP with its password; the harness's own file only lists its roles.
    await appendFile(join(cluster().dataDir, 'pg_hba.conf'), 'host\tall\tall\t127.0.0.1/32\tscram-sha-256\n');
    await sql(`
      CREATE ROLE pgw_admin LOGIN CREATEROLE PASSWORD '${adminPassword}';
      CREATE ROLE "app reader ""quoted""" NOLOGIN;
      CREATE ROLE app_writer NOLOGIN;
      GRANT CREATE, USAGE ON SCHEMA public TO app_writer;
      CREATE TABLE orders (id int); GRANT SELECT ON orders TO "app reader ""quoted""";
      SELECT pg_reload_conf();`);
    target = {
      connection: { namespace: 'agents', name: 'orders-db' },
      host: cluster().host,
      port: cluster().port,
      database: cluster().database,
      tlsMode: 'disable',
      connectTimeoutMs: 10_000,
      credentials: { user: 'pgw_admin', password: adminPassword },
      dynamic: DynamicCredentialsSchema.parse({
        adminSecretRef: { name: 'admin' },
        memberOf: [reader, writer],
        connectionLimit: 3,
      }),
    };
  });

  it('makes a login role with exactly the configured memberships, limit and VALID UNTIL, and reuses it', async () => {
    const expiresAt = inMinutes(10);
    const creating = performance.now();
    const credential = await roles.issue(target, grantee('runner-7f9c'), expiresAt);
    process.stdout.write(`creating a role took ${(performance.now() - creating).toFixed(0)} ms\n`);
    expect(credential).toMatchObject({ type: 'dynamic', validUntil: expiresAt.toISOString() });
    expect(credential.user).toMatch(/^pgw_agents\/readers\/runner-7f9c#[0-9a-f]{8}$/);
    expect(await catalog(credential.user)).toEqual({
      valid_until: expiresAt,
      limit: 3,
      can_login: true,
      member_of: [writer, reader].sort(),
    });
    const comment = await sql(
      `SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = '${credential.user.replaceAll("'", "''")}'`,
    );
    expect(JSON.parse(comment.replace(/^pgwarden dynamic role /, ''))).toEqual({
      database: 'app',
      connection: 'agents/orders-db',
      namespace: 'agents',
      policy: 'agents/readers',
      pod: 'runner-7f9c',
      podUid: 'uid-runner-7f9c-readers',
      serviceAccount: 'agent',
    });

    const session = await connect(credential);
    const { rows } = await session.query('SELECT current_user AS who, count(*)::int AS n FROM orders');
    expect(rows[0]).toEqual({ who: credential.user, n: 0 });
    await session.end();

    // A refresh: same role and password, later VALID UNTIL; no second role.
    const later = inMinutes(20);
    const started = performance.now();
    const refreshed = await roles.issue(target, grantee('runner-7f9c'), later);
    process.stdout.write(`refresh of an existing role took ${(performance.now() - started).toFixed(0)} ms\n`);
    expect(refreshed).toEqual({ ...credential, validUntil: later.toISOString() });
    expect((await catalog(credential.user))?.valid_until).toEqual(later);
    expect(
      await sql("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'pgw\\_agents/readers/runner-7f9c%'"),
    ).toBe('1');

    // A process without the password (restart) sets a new one; the spec's memberships are applied.
    const restarted = new DynamicRoles();
    const narrowed = { ...target, dynamic: { ...target.dynamic, memberOf: [writer], connectionLimit: 1 } };
    const fresh = await restarted.issue(narrowed, grantee('runner-7f9c'), later);
    expect(fresh.user).toBe(credential.user);
    expect(fresh.password).not.toBe(credential.password);
    expect(await login(credential)).toBe('28P01');
    expect(await login(fresh)).toBe('ok');
    expect(await catalog(credential.user)).toMatchObject({ limit: 1, member_of: [writer] });
  });

  it('ends the role at revocation: sessions terminated, login refused, owned objects kept by the admin', async () => {
    const credential = await roles.issue(target, grantee('doomed'), inMinutes(10));
    const session = await connect(credential);
    await session.query('CREATE TABLE agent_notes (note text)');
    const ended = sqlStates(session);
    const other = await roles.issue(target, grantee('bystander', 'watchers'), inMinutes(10));

    const started = performance.now();
    expect(await roles.revoke(target, { podUid: 'uid-doomed-readers' })).toEqual([credential.user]);
    process.stdout.write(
      `revocation (terminate 1 session + drop) took ${(performance.now() - started).toFixed(0)} ms\n`,
    );

    await vi.waitFor(() => expect(ended).toContain('57P01'), { timeout: 10_000, interval: 50 });
    expect(await catalog(credential.user)).toBeUndefined();
    expect(await login(credential)).toBe('28P01');
    expect(await sql("SELECT tableowner FROM pg_tables WHERE tablename = 'agent_notes'")).toBe('pgw_admin');
    expect(await login(other)).toBe('ok');

    // By policy: every pod's role under it.
    const second = await roles.issue(target, grantee('bystander-2', 'watchers'), inMinutes(10));
    expect((await roles.revoke(target, { policy: 'agents/watchers' })).sort()).toEqual(
      [other.user, second.user].sort(),
    );
  });

  it('cannot log in once VALID UNTIL passes; the sweep drops it and ends its sessions', async () => {
    const expiresAt = new Date(Date.now() + 3_000);
    const credential = await roles.issue(target, grantee('short-lived'), expiresAt);
    const keeper = await roles.issue(target, grantee('long-lived'), inMinutes(10));
    const session = await connect(credential);
    const ended = sqlStates(session);
    // Before expiry nothing is swept.
    expect(await roles.sweep(target, new Date())).toEqual([]);
    await vi.waitFor(async () => expect(await login(credential)).toBe('28P01'), {
      timeout: 20_000,
      interval: 250,
    });
    // VALID UNTIL only stops logins; the open session lives until the sweep.
    expect((await session.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    expect(await roles.sweep(target, new Date())).toEqual([credential.user]);
    await vi.waitFor(() => expect(ended).toContain('57P01'), { timeout: 10_000, interval: 50 });
    expect(await catalog(credential.user)).toBeUndefined();
    expect(await login(keeper)).toBe('ok');
  });

  it('never touches a role it did not make, even with its prefix and an expired VALID UNTIL', async () => {
    await sql(`CREATE ROLE "pgw_someone/else" LOGIN VALID UNTIL '2000-01-01'`);
    expect(await roles.sweep(target, inMinutes(60 * 24))).not.toContain('pgw_someone/else');
    expect(await sql(`SELECT count(*) FROM pg_roles WHERE rolname = 'pgw_someone/else'`)).toBe('1');

    const name = dynamicRoleName('pgw_', roleIdentity('app', 'agents/orders-db', grantee('squatter')));
    await sql(`CREATE ROLE "${name}" NOLOGIN`);
    const refused = roles.issue(target, grantee('squatter'), inMinutes(10));
    await expect(refused).rejects.toThrow(DynamicRoleError);
    await expect(refused).rejects.toThrow(/exists but pgwarden did not make it/);

    // A pgwarden role of another pod under the same name (a hash collision) is not shared either.
    const other = roleIdentity('app', 'agents/orders-db', grantee('twin'));
    const twin = dynamicRoleName('pgw_', roleIdentity('app', 'agents/orders-db', grantee('twin-2')));
    await sql(`CREATE ROLE "${twin}" NOLOGIN; COMMENT ON ROLE "${twin}" IS '${roleComment(other)}'`);
    await expect(roles.issue(target, grantee('twin-2'), inMinutes(10))).rejects.toThrow(
      `role "${twin}" belongs to pod agents/twin under policy agents/readers; names collided`,
    );
  });

  it('quotes odd names, and keeps role names within 63 bytes and apart', async () => {
    const odd = grantee(`pod-"x"; DROP ROLE pgw_admin; --`, `it's`, 'ns');
    const credential = await roles.issue(target, odd, inMinutes(10));
    expect(credential.user.startsWith(`pgw_ns/it's/pod-"x"; DROP ROLE pgw_admin; --#`)).toBe(true);
    expect(await login(credential)).toBe('ok');
    expect(await sql("SELECT count(*) FROM pg_roles WHERE rolname = 'pgw_admin'")).toBe('1');

    const long = (pod: string) =>
      roleIdentity('app', 'c', grantee(pod, 'a-very-long-policy-name-for-agents', 'a-long-namespace-name'));
    const first = dynamicRoleName('pgw_', long(`agent-runner-${'x'.repeat(40)}-1`));
    const second = dynamicRoleName('pgw_', long(`agent-runner-${'x'.repeat(40)}-2`));
    for (const name of [first, second]) expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
    expect(first).not.toBe(second);
    // The longest part gives way first, then all three evenly.
    expect(first).toMatch(/^pgw_a-long-namespace\/a-very-long-poli\/agent-runner-xxx#[0-9a-f]{8}$/);
    const wide = dynamicRoleName('pgw_', long('ünïcödé-'.repeat(10)));
    expect(Buffer.byteLength(wide)).toBeLessThanOrEqual(63);
    expect(wide).not.toContain('\uFFFD');
    const made = await roles.issue(target, grantee('ünïcödé-'.repeat(10), 'p', 'ns'), inMinutes(10));
    expect(Buffer.byteLength(made.user)).toBeLessThanOrEqual(63);
    expect(await login(made)).toBe('ok');
  });

  it('never shows the admin password or a role password in errors or logs', async () => {
    const wrong = { ...target, credentials: { user: 'pgw_admin', password: `${adminPassword}-wrong` } };
    const error = await roles.issue(wrong, grantee('nope'), inMinutes(10)).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(DynamicRoleError);
    expect(error?.message).toContain('password authentication failed for user "pgw_admin"');
    expect(error?.message).not.toContain(adminPassword);

    const credential = await roles.issue(target, grantee('audited'), inMinutes(10));
    await roles.revoke(target, { podUid: 'uid-audited-readers' });
    const log = logLines.join('\n');
    expect(log).toContain('dynamic-role-created');
    expect(log).toContain('dynamic-role-dropped');
    expect(log).not.toContain(adminPassword);
    expect(log).not.toContain(credential.password);
    expect(log).not.toContain('SCRAM-SHA-256$');
    // The server saw only verifiers: its statement log has CREATE/ALTER ROLE but no password.
    const serverLog = await readFile(cluster().logFile, 'utf8');
    expect(serverLog).toContain(`PASSWORD 'SCRAM-SHA-256$4096:`);
    expect(serverLog).not.toContain(credential.password);
  });
});
