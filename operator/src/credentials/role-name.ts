import { createHash } from 'node:crypto';
import { type GrantSubject, PG_ROLE_NAME_MAX_BYTES } from '@pgwarden/crds';

/** Who a dynamic role is for: one pod under one policy. */
export interface Grantee {
  subject: GrantSubject;
  policyRef: { namespace: string; name: string };
}

/**
 * What COMMENT ON ROLE records on every role pgwarden makes: the full
 * identity (the name may be shortened) and the mark the sweep and revocation
 * look for, so they never drop a role someone else made with a similar name.
 */
export interface RoleIdentity {
  database: string;
  connection: string;
  namespace: string;
  policy: string;
  pod: string;
  podUid: string;
  serviceAccount: string;
}

export const ROLE_COMMENT_MARK = 'pgwarden dynamic role ';
const HASH_HEX = 8;

export function roleIdentity(database: string, connection: string, grantee: Grantee): RoleIdentity {
  const { subject, policyRef } = grantee;
  return {
    database,
    connection,
    namespace: subject.namespace,
    policy: `${policyRef.namespace}/${policyRef.name}`,
    pod: subject.pod,
    podUid: subject.podUid,
    serviceAccount: subject.serviceAccount,
  };
}

export function roleComment(identity: RoleIdentity): string {
  return `${ROLE_COMMENT_MARK}${JSON.stringify(identity)}`;
}

/** The identity in a role's comment, or undefined when pgwarden did not write it. */
export function parseRoleComment(comment: string | null): RoleIdentity | undefined {
  if (!comment?.startsWith(ROLE_COMMENT_MARK)) return undefined;
  try {
    const parsed = JSON.parse(comment.slice(ROLE_COMMENT_MARK.length)) as Partial<RoleIdentity>;
    return typeof parsed.podUid === 'string' && typeof parsed.database === 'string'
      ? (parsed as RoleIdentity)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `<prefix><namespace>/<policy>/<pod>#<hash>`, at most 63 bytes: readable in
 * pg_stat_activity and the server log, and the same for every grant of one
 * pod (uid) under one policy, so refreshes reuse the role. When too long the
 * longest of the three parts is shortened first; the hash of the database,
 * policy and pod uid keeps shortened names apart (and a re-created pod with
 * the same name gets a new role). Lengths are counted in bytes, as PostgreSQL does.
 */
export function dynamicRoleName(prefix: string, identity: RoleIdentity): string {
  const hash = createHash('sha256')
    .update(`${identity.database}\n${identity.policy}\n${identity.podUid}`)
    .digest('hex')
    .slice(0, HASH_HEX);
  const policyName = identity.policy.slice(identity.policy.indexOf('/') + 1);
  // Code points, so shortening never splits a character (names from tests or
  // other sources than Kubernetes need not be ASCII).
  const parts = [identity.namespace, policyName, identity.pod].map((part) => Array.from(part));
  const room = PG_ROLE_NAME_MAX_BYTES - Buffer.byteLength(prefix) - 1 - HASH_HEX - (parts.length - 1);
  const bytes = (part: string[]) => Buffer.byteLength(part.join(''));
  while (parts.reduce((sum, part) => sum + bytes(part), 0) > room) {
    const longest = parts.reduce(
      (best, part, i) => (bytes(part) > bytes(parts[best] as string[]) ? i : best),
      0,
    );
    (parts[longest] as string[]).pop();
  }
  return `${prefix}${parts.map((part) => part.join('')).join('/')}#${hash}`;
}
