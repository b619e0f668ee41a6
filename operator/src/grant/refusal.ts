import type { GrantRefusal, GrantRefusalReason } from '@pgwarden/crds';

/** The HTTP status each refusal is answered with (crds/src/grant.ts documents the contract). */
export const REFUSAL_STATUS: Readonly<Record<GrantRefusalReason, number>> = {
  'invalid-token': 401,
  'wrong-audience': 401,
  'not-bound-to-pod': 403,
  'pod-gone': 403,
  'token-exposed': 403,
  'no-policy': 403,
  'multiple-policies': 403,
  'policy-invalid': 403,
  'connection-unavailable': 403,
  'rate-limited': 429,
  unavailable: 503,
};

/** A refusal and the status it is answered with. */
export interface Refused {
  ok: false;
  status: number;
  refusal: GrantRefusal;
}

export function refuse(
  reason: GrantRefusalReason,
  message: string,
  retryAfterSeconds: number | null = null,
): Refused {
  return { ok: false, status: REFUSAL_STATUS[reason], refusal: { reason, message, retryAfterSeconds } };
}
