import type { GrantRefusal } from '@pgwarden/crds';
import { PgError } from '../wire/error-response.js';

/**
 * Errors a client sees because of the grant's state. Access ending (refusal,
 * expiry) is 28000 invalid_authorization_specification, as PostgreSQL answers
 * a role that may no longer log in; the rest are retryable.
 */
export const GrantErrors = {
  /** Before the first grant: the pod is not ready yet (the startup probe keeps agents waiting). */
  notGrantedYet: (lastFailure: string | null) =>
    new PgError({
      severity: 'FATAL',
      code: '57P03',
      message: lastFailure
        ? `pgwarden: no grant yet: the operator's grant API did not give one (${lastFailure})`
        : 'pgwarden: no grant yet: the sidecar is still asking the operator for its grant',
      hint: 'Retry once the pod is ready; if this persists, check the operator and that an AgentAccessPolicy binds this pod.',
    }),
  revoked: (refusal: GrantRefusal, hadAccess: boolean) =>
    new PgError({
      severity: 'FATAL',
      code: '28000',
      message: `pgwarden: access ${hadAccess ? 'revoked' : 'refused'}: ${refusal.message} (${refusal.reason})`,
      hint: 'An AgentAccessPolicy in the pod namespace must bind this pod; access resumes when the operator grants it again.',
    }),
  expired: (expiresAt: string, lastFailure: string | null) =>
    new PgError({
      severity: 'FATAL',
      code: '28000',
      message: `pgwarden: access revoked: grant expired at ${expiresAt} and the operator did not renew it${lastFailure ? ` (${lastFailure})` : ''}`,
      hint: 'The sidecar keeps asking; access resumes when the operator is reachable and grants it again.',
    }),
  unenforceable: (reason: string) =>
    new PgError({
      severity: 'FATAL',
      code: '28000',
      message: `pgwarden: access suspended: the grant cannot be enforced by this sidecar: ${reason}`,
      hint: 'Fix the sidecar configuration or the policy; the sidecar applies the next grant it receives.',
    }),
  /** A session the new policy cannot take over as it is; a new connection runs under it. */
  policyChanged: (policy: string, reason: string) =>
    new PgError({
      severity: 'FATAL',
      code: '57P01',
      message: `pgwarden: the access policy changed to ${policy} and this session cannot move to it: ${reason}`,
      hint: 'Reconnect: a new session runs under the new policy.',
    }),
} as const;
