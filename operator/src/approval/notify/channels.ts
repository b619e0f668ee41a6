import {
  type ApprovalNotification,
  NOTIFICATION_IDEMPOTENCY_HEADER,
  NOTIFICATION_SIGNATURE_HEADER,
  NOTIFICATION_TIMESTAMP_HEADER,
  type NotificationChannel,
  parseDurationMs,
  type SlackChannel,
  type WebhookChannel,
} from '@pgwarden/crds';
import { type DeliveryOutcome, postWithRetries, type RetryPolicy } from './deliver.js';
import type { SecretReader } from './secrets.js';
import { webhookSignature } from './signature.js';
import { slackMessage } from './slack-message.js';

export interface SendDeps {
  readSecret: SecretReader;
  /** Ends retries early (operator shutdown). */
  signal: AbortSignal;
  now: () => number;
}

/** One notification to one channel, retried per the channel's bounds; never throws. */
export async function sendToChannel(
  channel: NotificationChannel,
  notification: ApprovalNotification,
  deps: SendDeps,
): Promise<DeliveryOutcome> {
  try {
    return channel.type === 'webhook'
      ? await sendWebhook(channel, notification, deps)
      : await sendSlack(channel, notification, deps);
  } catch (error) {
    // A Secret that cannot be read: nothing was sent.
    return { result: 'failed', attempts: 0, status: null, error: (error as Error).message };
  }
}

function retryPolicy(channel: NotificationChannel): RetryPolicy {
  return {
    maxAttempts: channel.maxAttempts,
    initialBackoffMs: parseDurationMs(channel.initialBackoff) as number,
    timeoutMs: parseDurationMs(channel.timeout) as number,
  };
}

async function sendWebhook(
  channel: WebhookChannel,
  notification: ApprovalNotification,
  deps: SendDeps,
): Promise<DeliveryOutcome> {
  const key = await deps.readSecret(channel.hmacSecretRef);
  // The body is identical on every attempt; the timestamp (and so the signature) is not.
  const body = JSON.stringify(notification);
  const headers = () => {
    const timestamp = Math.floor(deps.now() / 1000);
    return {
      [NOTIFICATION_TIMESTAMP_HEADER]: String(timestamp),
      [NOTIFICATION_SIGNATURE_HEADER]: webhookSignature(key, timestamp, body),
      [NOTIFICATION_IDEMPOTENCY_HEADER]: notification.idempotencyKey,
    };
  };
  return postWithRetries(channel.url, body, headers, retryPolicy(channel), deps.signal);
}

async function sendSlack(
  channel: SlackChannel,
  notification: ApprovalNotification,
  deps: SendDeps,
): Promise<DeliveryOutcome> {
  const message = slackMessage(notification, channel.signingSecretRef !== undefined);
  if (channel.webhookUrlSecretRef) {
    const url = await deps.readSecret(channel.webhookUrlSecretRef);
    return postWithRetries(url, JSON.stringify(message), () => ({}), retryPolicy(channel), deps.signal);
  }
  const token = await deps.readSecret(channel.tokenSecretRef as NonNullable<SlackChannel['tokenSecretRef']>);
  return postWithRetries(
    `${channel.apiUrl.replace(/\/$/, '')}/chat.postMessage`,
    JSON.stringify({ channel: channel.channel, ...message }),
    () => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' }),
    retryPolicy(channel),
    deps.signal,
    slackApiRefusal,
  );
}

/** The Web API answers 200 with {"ok": false, "error": "channel_not_found"} when it refuses. */
export function slackApiRefusal(_response: Response, text: string): string | null {
  try {
    const answer = JSON.parse(text) as { ok?: boolean; error?: string };
    return answer.ok === true ? null : `Slack refused: ${answer.error ?? text.slice(0, 200)}`;
  } catch {
    return `Slack answered something else than JSON: ${text.slice(0, 200)}`;
  }
}
