import { randomBytes } from 'node:crypto';
import type { DatabaseConnectionSpec, DynamicCredentials, GrantCredential } from '@pgwarden/crds';
import type pg from 'pg';
import { connectDatabase, type DatabaseTarget, databaseTarget } from '../database-connection/client.js';
import type { Credentials } from '../database-connection/credentials.js';
import type { Log } from '../reconcile/loop.js';
import {
  dynamicRoleName,
  type Grantee,
  parseRoleComment,
  ROLE_COMMENT_MARK,
  type RoleIdentity,
  roleComment,
  roleIdentity,
} from './role-name.js';
import { scramVerifier } from './scram-verifier.js';

/**
 * Dynamic credentials (DatabaseConnection spec.credentials.dynamic): one
 * PostgreSQL role per pod and policy, made and dropped by the operator through
 * the connection's admin role.
 *
 *   const roles = new DynamicRoles({ log });
 *   const read = await readCredentials(clients, namespace, spec);    // mode 'dynamic'
 *   const target = dynamicTarget({ namespace, name }, spec, read.credentials, read.dynamic);
 *   roles.issue(target, { subject, policyRef }, expiresAt) → GrantCredential
 *       the grant's credential. The first call creates the role (LOGIN,
 *       random password, VALID UNTIL expiresAt, IN ROLE memberOf, CONNECTION
 *       LIMIT); later calls for the same pod uid and policy reuse it: VALID
 *       UNTIL moves to the new expiry, memberships and limit follow the spec,
 *       and the password stays what this process handed out before (a new one
 *       when it has none, e.g. after a restart). Sessions already open are
 *       never affected by a password change: PostgreSQL checks it at login.
 *   roles.revoke(target, { podUid, policies? } or { policy: 'ns/name', podUids? }) → roles dropped
 *       at revocation (pod gone, policy deleted or no longer binding).
 *   roles.sweep(target, now) → roles dropped
 *       drops the roles whose VALID UNTIL has passed; the DatabaseConnection
 *       reconciler runs it on every pass (probeInterval) on the leader.
 *
 * Dropping a role: NOLOGIN and VALID UNTIL -infinity first (no new session
 * can start), then every session it has in any database is terminated
 * (pg_terminate_backend, waiting for each to exit), then whatever it owns in
 * the connection's database is handed to the admin role (REASSIGN OWNED: an
 * agent's tables are kept, not dropped with it) and its remaining privileges
 * revoked (DROP OWNED), then DROP ROLE. Objects it owns in another database
 * make DROP ROLE fail; the role stays unable to log in, the failure is logged
 * and the next sweep tries again.
 *
 * Only roles pgwarden made are ever changed or dropped: their name starts
 * with rolePrefix and their comment carries ROLE_COMMENT_MARK and the
 * identity (database, connection, namespace, policy, pod, pod uid, service
 * account). The admin role makes itself a member of each role it creates: that
 * is what lets a CREATEROLE role terminate its sessions and REASSIGN/DROP
 * OWNED it. The password reaches the server only as a SCRAM verifier.
 */

/** A dynamic DatabaseConnection as the role manager reaches it: `credentials` is the admin role. */
export interface DynamicTarget extends DatabaseTarget {
  connection: { namespace: string; name: string };
  dynamic: DynamicCredentials;
}

/**
 * Which roles a revocation ends: those of one pod (any policy, or only under
 * the policies listed, as 'namespace/name'), or of one policy (any pod, or
 * only the pods whose uids are listed).
 */
export type RoleMatch =
  | { podUid: string; policies?: ReadonlySet<string> }
  | { policy: string; podUids?: ReadonlySet<string> };

export interface DynamicRolesOptions {
  log?: Log;
  /** How long pg_terminate_backend waits for each session to exit; default 5 s. */
  terminateWaitMs?: number;
}

export class DynamicRoleError extends Error {
  override name = 'DynamicRoleError';
}

/** The target of a dynamic DatabaseConnection, from its spec and what readCredentials returned. */
export function dynamicTarget(
  connection: { namespace: string; name: string },
  spec: DatabaseConnectionSpec,
  admin: Credentials,
  dynamic: DynamicCredentials,
): DynamicTarget {
  return { ...databaseTarget(spec, admin), connection, dynamic };
}

interface ExistingRole {
  comment: string | null;
  member_of: string[];
}

export class DynamicRoles {
  readonly #log: Log;
  readonly #terminateWaitMs: number;
  /** Passwords this process handed out, by role name: refreshes keep them. */
  readonly #passwords = new Map<string, string>();
  /** One operation at a time per role name. */
  readonly #busy = new Map<string, Promise<unknown>>();

  constructor(options: DynamicRolesOptions = {}) {
    this.#log = options.log ?? (() => {});
    this.#terminateWaitMs = options.terminateWaitMs ?? 5_000;
  }

  /** The grantee's role, created or extended to `expiresAt`; see the top of this file. */
  async issue(target: DynamicTarget, grantee: Grantee, expiresAt: Date): Promise<GrantCredential> {
    const identity = roleIdentity(target.database, connectionKey(target), grantee);
    const role = dynamicRoleName(target.dynamic.rolePrefix, identity);
    return this.#exclusive(role, () =>
      this.#session(target, 'issue', async (client) => {
        const existing = await readRole(client, role);
        const known = existing ? this.#passwords.get(role) : undefined;
        const password = known ?? randomBytes(24).toString('base64url');
        const verifier = known ? undefined : await scramVerifier(password);
        if (existing) await this.#extend(client, target, role, identity, existing, expiresAt, verifier);
        else await this.#create(client, target, role, identity, expiresAt, verifier as string);
        this.#passwords.set(role, password);
        return { type: 'dynamic', user: role, password, validUntil: expiresAt.toISOString() };
      }),
    );
  }

  /** Drops the roles made for `match` on this database (pod gone, policy deleted or unbound). */
  async revoke(target: DynamicTarget, match: RoleMatch): Promise<string[]> {
    const selected = (identity: RoleIdentity) =>
      'podUid' in match
        ? identity.podUid === match.podUid && (match.policies?.has(identity.policy) ?? true)
        : identity.policy === match.policy && (match.podUids?.has(identity.podUid) ?? true);
    return this.#dropWhere(target, 'revoked', selected, null);
  }

  /** Drops the roles made on this database whose VALID UNTIL is before `now`. */
  async sweep(target: DynamicTarget, now: Date): Promise<string[]> {
    return this.#dropWhere(target, 'expired', () => true, now);
  }

  async #create(
    client: pg.Client,
    target: DynamicTarget,
    role: string,
    identity: RoleIdentity,
    expiresAt: Date,
    verifier: string,
  ): Promise<void> {
    const { memberOf, connectionLimit } = target.dynamic;
    const name = client.escapeIdentifier(role);
    await inTransaction(client, [
      `CREATE ROLE ${name} WITH LOGIN INHERIT PASSWORD ${client.escapeLiteral(verifier)}` +
        ` VALID UNTIL ${client.escapeLiteral(expiresAt.toISOString())} CONNECTION LIMIT ${connectionLimit}` +
        ` IN ROLE ${memberOf.map((m) => client.escapeIdentifier(m)).join(', ')}`,
      `GRANT ${name} TO CURRENT_USER`,
      `COMMENT ON ROLE ${name} IS ${client.escapeLiteral(roleComment(identity))}`,
    ]);
    this.#log('dynamic-role-created', { role, ...logFields(target, identity), validUntil: expiresAt });
  }

  async #extend(
    client: pg.Client,
    target: DynamicTarget,
    role: string,
    identity: RoleIdentity,
    existing: ExistingRole,
    expiresAt: Date,
    verifier: string | undefined,
  ): Promise<void> {
    const made = parseRoleComment(existing.comment);
    if (!made) {
      throw new DynamicRoleError(
        `role "${role}" exists but pgwarden did not make it (its comment does not start with "${ROLE_COMMENT_MARK.trim()}"); drop or rename it, or change rolePrefix`,
      );
    }
    // Same name, another grantee: a shortened name whose 32-bit hash collided. Never share a role.
    if (
      made.podUid !== identity.podUid ||
      made.policy !== identity.policy ||
      made.database !== identity.database
    ) {
      throw new DynamicRoleError(
        `role "${role}" belongs to pod ${made.namespace}/${made.pod} under policy ${made.policy}; names collided, so this grant gets no role (set a shorter rolePrefix)`,
      );
    }
    const { memberOf, connectionLimit } = target.dynamic;
    const name = client.escapeIdentifier(role);
    const password = verifier ? ` PASSWORD ${client.escapeLiteral(verifier)}` : '';
    const quote = (roles: string[]) => roles.map((m) => client.escapeIdentifier(m)).join(', ');
    const missing = memberOf.filter((m) => !existing.member_of.includes(m));
    const extra = existing.member_of.filter((m) => !memberOf.includes(m));
    await inTransaction(client, [
      `ALTER ROLE ${name} WITH LOGIN CONNECTION LIMIT ${connectionLimit}` +
        ` VALID UNTIL ${client.escapeLiteral(expiresAt.toISOString())}${password}`,
      ...(missing.length > 0 ? [`GRANT ${quote(missing)} TO ${name}`] : []),
      ...(extra.length > 0 ? [`REVOKE ${quote(extra)} FROM ${name}`] : []),
    ]);
    this.#log('dynamic-role-extended', {
      role,
      ...logFields(target, identity),
      validUntil: expiresAt,
      newPassword: verifier !== undefined,
      ...(missing.length + extra.length > 0 && { membershipsAdded: missing, membershipsRemoved: extra }),
    });
  }

  async #dropWhere(
    target: DynamicTarget,
    cause: 'revoked' | 'expired',
    selected: (identity: RoleIdentity) => boolean,
    expiredBefore: Date | null,
  ): Promise<string[]> {
    const candidates = await this.#session(target, cause, async (client) => {
      const { rows } = await client.query<{ rolname: string; comment: string | null }>(
        `SELECT rolname, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles
          WHERE starts_with(rolname, $1) AND ($2::timestamptz IS NULL OR rolvaliduntil < $2)`,
        [target.dynamic.rolePrefix, expiredBefore],
      );
      return rows.flatMap(({ rolname, comment }) => {
        const identity = parseRoleComment(comment);
        return identity && identity.database === target.database && selected(identity)
          ? [{ role: rolname, identity }]
          : [];
      });
    });
    const dropped: string[] = [];
    for (const { role, identity } of candidates) {
      const done = await this.#exclusive(role, () =>
        this.#session(target, cause, async (client) => {
          // Another replica may have extended it (a refresh) since the candidates were listed.
          if (expiredBefore && !(await stillExpired(client, role, expiredBefore))) return false;
          return this.#drop(client, target, role, identity, cause);
        }),
      );
      if (done) dropped.push(role);
    }
    return dropped;
  }

  /** True when the role is gone; a failure is logged, and the next sweep retries. */
  async #drop(
    client: pg.Client,
    target: DynamicTarget,
    role: string,
    identity: RoleIdentity,
    cause: 'revoked' | 'expired',
  ): Promise<boolean> {
    const name = client.escapeIdentifier(role);
    this.#passwords.delete(role);
    try {
      await client.query(`ALTER ROLE ${name} WITH NOLOGIN VALID UNTIL '-infinity'`);
      const { rows } = await client.query<{ terminated: number }>(
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, $2))::int AS terminated
           FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()`,
        [role, this.#terminateWaitMs],
      );
      await inTransaction(client, [
        `REASSIGN OWNED BY ${name} TO CURRENT_USER`,
        `DROP OWNED BY ${name}`,
        `DROP ROLE ${name}`,
      ]);
      this.#log('dynamic-role-dropped', {
        role,
        ...logFields(target, identity),
        cause,
        sessionsTerminated: rows[0]?.terminated ?? 0,
      });
      return true;
    } catch (error) {
      this.#log('dynamic-role-drop-failed', {
        role,
        ...logFields(target, identity),
        cause,
        error: describe(error),
      });
      return false;
    }
  }

  /** Runs `work` on a fresh admin session; errors name the connection and the operation. */
  async #session<T>(target: DynamicTarget, operation: string, work: (client: pg.Client) => Promise<T>) {
    let client: pg.Client | undefined;
    try {
      client = (await connectDatabase(target, 'pgwarden-operator-roles')).client;
      return await work(client);
    } catch (error) {
      if (error instanceof DynamicRoleError) throw error;
      throw new DynamicRoleError(
        `dynamic roles (${operation}) on DatabaseConnection ${connectionKey(target)} as "${target.credentials.user}": ${describe(error)}`,
        { cause: error },
      );
    } finally {
      await client?.end().catch(() => undefined);
    }
  }

  async #exclusive<T>(role: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#busy.get(role) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.#busy.set(role, next);
    try {
      return await next;
    } finally {
      if (this.#busy.get(role) === next) this.#busy.delete(role);
    }
  }
}

async function readRole(client: pg.Client, role: string): Promise<ExistingRole | undefined> {
  const { rows } = await client.query<ExistingRole>(
    `SELECT shobj_description(r.oid, 'pg_authid') AS comment,
            ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                   WHERE m.member = r.oid ORDER BY 1) AS member_of
       FROM pg_roles r WHERE r.rolname = $1`,
    [role],
  );
  return rows[0];
}

async function stillExpired(client: pg.Client, role: string, before: Date): Promise<boolean> {
  const { rows } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1 AND rolvaliduntil < $2', [
    role,
    before,
  ]);
  return rows.length > 0;
}

async function inTransaction(client: pg.Client, statements: string[]): Promise<void> {
  await client.query('BEGIN');
  try {
    for (const statement of statements) await client.query(statement);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

const connectionKey = (target: DynamicTarget) => `${target.connection.namespace}/${target.connection.name}`;

function logFields(target: DynamicTarget, identity: RoleIdentity): Record<string, unknown> {
  return {
    connection: connectionKey(target),
    policy: identity.policy,
    pod: `${identity.namespace}/${identity.pod}`,
    podUid: identity.podUid,
  };
}

/** A PostgreSQL error's message, SQLSTATE and detail (none of which carry a statement's text). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const { code, detail } = error as { code?: string; detail?: string };
  return [error.message, code && `SQLSTATE ${code}`, detail].filter(Boolean).join('; ');
}
