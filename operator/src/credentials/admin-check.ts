import type { DatabaseConnectionReason, DynamicCredentials } from '@pgwarden/crds';
import type pg from 'pg';

export interface AdminProblem {
  reason: DatabaseConnectionReason;
  message: string;
}

/**
 * Whether the admin role of a dynamic DatabaseConnection can make the roles
 * grants need: it must be allowed to create roles, and every role in memberOf
 * must exist (CREATE ROLE … IN ROLE fails on a missing one, at grant time).
 * ADMIN OPTION on memberOf (PostgreSQL 16+) shows only when a role is made.
 */
export async function checkDynamicAdmin(
  client: pg.Client,
  settings: DynamicCredentials,
): Promise<AdminProblem | undefined> {
  const { rows } = await client.query<{ user: string; can_create: boolean; missing: string[] }>(
    `SELECT current_user AS user, r.rolcreaterole OR r.rolsuper AS can_create,
            ARRAY(SELECT m FROM unnest($1::text[]) AS m
                  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = m)) AS missing
       FROM pg_roles r WHERE r.rolname = current_user`,
    [settings.memberOf],
  );
  const row = rows[0];
  if (!row?.can_create) {
    return {
      reason: 'AdminPrivilegesMissing',
      message: `the admin role "${row?.user ?? '?'}" cannot create roles: ALTER ROLE it WITH CREATEROLE`,
    };
  }
  if (row.missing.length > 0) {
    return {
      reason: 'MemberRoleNotFound',
      message: `memberOf names roles the database does not have: ${row.missing.map((m) => `"${m}"`).join(', ')}`,
    };
  }
  return undefined;
}
