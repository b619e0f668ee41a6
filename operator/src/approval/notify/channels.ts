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

/** A message chat.postMessage posted: where chat.update finds it. */
export interface PostedSlackMessage {
  channel: string;
  ts: string;
}

/** How a delivery ended; for a chat.postMessage, the message it posted. */
export type ChannelOutcome = DeliveryOutcome & { posted?: PostedSlackMessage };

/**
 * One notification to one channel, retried per the channel's bounds; never
 * throws. With `posted` (a Slack message posted earlier for the same
 * approval) the notification replaces that message instead of adding one, so
 * its buttons do not outlive the request.
 */
export async function sendToChannel(
  channel: NotificationChannel,
  notification: ApprovalNotification,
  deps: SendDeps,
  posted?: PostedSlackMessage,
): Promise<ChannelOutcome> {
  try {
    return channel.type === 'webhook'
      ? await sendWebhook(channel, notification, deps)
      : await sendSlack(channel, notification, deps, posted);
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
  posted: PostedSlackMessage | undefined,
): Promise<ChannelOutcome> {
  const message = slackMessage(notification, channel.signingSecretRef !== undefined);
  if (channel.webhookUrlSecretRef) {
    const url = await deps.readSecret(channel.webhookUrlSecretRef);
    return postWithRetries(url, JSON.stringify(message), () => ({}), retryPolicy(channel), deps.signal);
  }
  const token = await deps.readSecret(channel.tokenSecretRef as NonNullable<SlackChannel['tokenSecretRef']>);
  const method = posted ? 'chat.update' : 'chat.postMessage';
  let answer: { channel?: string; ts?: string } = {};
  const outcome = await postWithRetries(
    `${channel.apiUrl.replace(/\/$/, '')}/${method}`,
    JSON.stringify(posted ? { ...posted, ...message } : { channel: channel.channel, ...message }),
    () => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' }),
    retryPolicy(channel),
    deps.signal,
    (_response, text) => {
      const read = readSlackAnswer(text);
      if (read.ok) answer = read.answer;
      return read.ok ? null : read.refusal;
    },
  );
  return answer.channel && answer.ts && !posted
    ? { ...outcome, posted: { channel: answer.channel, ts: answer.ts } }
    : outcome;
}

/** The Web API answers 200 with {"ok": false, "error": "channel_not_found"} when it refuses. */
function readSlackAnswer(
  text: string,
): { ok: true; answer: { channel?: string; ts?: string } } | { ok: false; refusal: string } {
  try {
    const answer = JSON.parse(text) as { ok?: boolean; error?: string; channel?: string; ts?: string };
    return answer.ok === true
      ? { ok: true, answer }
      : { ok: false, refusal: `Slack refused: ${answer.error ?? text.slice(0, 200)}` };
  } catch {
    return { ok: false, refusal: `Slack answered something else than JSON: ${text.slice(0, 200)}` };
  }
}
