import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The two HMAC-SHA256 schemes of approval notifications. Both sign the
 * timestamp with the exact body bytes, so a captured request cannot be
 * replayed later (the receiver bounds the timestamp's age) nor its body
 * changed.
 */

/** Slack's bound on a request's age; the same for our receivers' recipe. */
export const MAX_SIGNATURE_AGE_SECONDS = 300;

/** X-Pgwarden-Signature for a webhook delivery: "sha256=" + hex HMAC over "<timestamp>.<body>". */
export function webhookSignature(key: string, timestamp: number, body: string): string {
  return `sha256=${hmacHex(key, `${timestamp}.${body}`)}`;
}

export type SlackVerification = { ok: true } | { ok: false; reason: 'missing' | 'stale' | 'mismatch' };

/**
 * Slack's request signing (v0): X-Slack-Signature is "v0=" + hex HMAC of
 * "v0:<X-Slack-Request-Timestamp>:<raw body>" with the app's signing secret,
 * and the timestamp must be within five minutes of now.
 */
export function verifySlackSignature(
  signingSecret: string,
  timestamp: string | undefined,
  signature: string | undefined,
  rawBody: string,
  nowMs: number,
): SlackVerification {
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return { ok: false, reason: 'missing' };
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > MAX_SIGNATURE_AGE_SECONDS)
    return { ok: false, reason: 'stale' };
  const expected = Buffer.from(`v0=${hmacHex(signingSecret, `v0:${timestamp}:${rawBody}`)}`);
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected)
    ? { ok: true }
    : { ok: false, reason: 'mismatch' };
}

function hmacHex(key: string, message: string): string {
  return createHmac('sha256', key).update(message, 'utf8').digest('hex');
}
