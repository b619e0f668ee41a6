import { randomUUID } from 'node:crypto';
import {
  API_GROUP,
  API_VERSION,
  type DatabaseConnectionSpec,
  type Grant,
  type GrantCredential,
  type GrantSubject,
} from '@pgwarden/crds';
import type { GrantDecision, ObjectRef } from './decide.js';
import { errorSummary } from './pod-identity.js';
import { type Refused, refuse } from './refusal.js';

/** Makes the per-grant role of a `dynamic` DatabaseConnection (operator/src/credentials). */
export interface DynamicRoleIssuer {
  issue(request: {
    subject: GrantSubject;
    policyRef: ObjectRef;
    connectionRef: ObjectRef;
    connection: DatabaseConnectionSpec;
    expiresAt: Date;
  }): Promise<GrantCredential>;
}

export interface IssueOptions {
  now: Date;
  /** Lifetime of a grant; the sidecar is told to refresh at half of it. */
  ttlMs: number;
  /** Absent: dynamic connections are refused as unavailable. */
  dynamicRoles?: DynamicRoleIssuer;
}

/** A decision made into a grant: its id, its times, and for dynamic connections the role made for it. */
export async function issueGrant(
  decision: GrantDecision,
  subject: GrantSubject,
  { now, ttlMs, dynamicRoles }: IssueOptions,
): Promise<{ ok: true; grant: Grant } | Refused> {
  const expiresAt = new Date(now.getTime() + ttlMs);
  let credential: GrantCredential;
  if (decision.credential.type === 'static') {
    credential = decision.credential.credential;
  } else {
    const unavailable = (why: string) =>
      refuse(
        'connection-unavailable',
        `DatabaseConnection ${decision.connectionRef.namespace}/${decision.connectionRef.name} uses dynamic credentials, ${why}`,
        dynamicRoles ? 5 : null,
      );
    if (!dynamicRoles) return unavailable('which this operator does not serve; use credentials.static');
    try {
      credential = await dynamicRoles.issue({
        subject,
        policyRef: decision.policyRef,
        connectionRef: decision.connectionRef,
        connection: decision.credential.connection,
        expiresAt,
      });
    } catch (error) {
      return unavailable(`and the operator could not make a role for this grant (${errorSummary(error)})`);
    }
  }
  return {
    ok: true,
    grant: {
      apiVersion: `${API_GROUP}/${API_VERSION}`,
      kind: 'Grant',
      id: randomUUID(),
      version: decision.version,
      subject,
      policyRef: decision.policyRef,
      policy: decision.policy,
      connectionRef: decision.connectionRef,
      upstream: decision.upstream,
      credential,
      issuedAt: now.toISOString(),
      expiresAt: expiresAt.toISOString(),
      refreshAt: new Date(now.getTime() + Math.floor(ttlMs / 2)).toISOString(),
    },
  };
}
