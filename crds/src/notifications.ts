import { z } from 'zod';
import { API_GROUP, API_VERSION } from './api-group.js';
import { APPROVAL_REQUEST_PHASES, ImpactSchema } from './approval.js';
import { DurationSchema } from './duration.js';
import { describeValue } from './field-errors.js';
import { DnsLabelSchema, DnsSubdomainSchema } from './k8s.js';

/**
 * Approval notifications (design §5): the operator's channel configuration
 * (a file, usually a mounted ConfigMap, named by --notifications), the JSON a
 * generic webhook receives, and the Slack interaction the operator accepts.
 * The descriptions below are user documentation.
 *
 * Webhook delivery:
 *   POST {url}
 *   X-Pgwarden-Timestamp: <Unix seconds>
 *   X-Pgwarden-Signature: sha256=<hex HMAC-SHA256(key, "<timestamp>.<body>")>
 *   X-Pgwarden-Idempotency-Key: <QueryApproval uid>:<event>
 *   body: ApprovalNotification
 */

export const NOTIFICATION_TIMESTAMP_HEADER = 'x-pgwarden-timestamp';
export const NOTIFICATION_SIGNATURE_HEADER = 'x-pgwarden-signature';
export const NOTIFICATION_IDEMPOTENCY_HEADER = 'x-pgwarden-idempotency-key';
/** Path prefix of the Slack interaction endpoint on the operator's HTTPS listener; the channel name follows. */
export const SLACK_INTERACTIONS_PATH = '/v1/slack/interactions';

const SecretKeyRefSchema = z
  .object({
    name: DnsSubdomainSchema.describe('Secret in the operator’s namespace.'),
    key: z.string().min(1).describe('Key of the Secret holding the value.'),
  })
  .strict()
  .describe('A Secret key in the operator’s namespace; only the operator reads it, and it is never logged.');

/** What a notification announces: a phase the approval reached, or Withdrawn: the agent gave up while it was pending and the request is gone. */
export const NOTIFICATION_EVENTS = [...APPROVAL_REQUEST_PHASES, 'Withdrawn'] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

const PhaseListSchema = z
  .array(z.enum(NOTIFICATION_EVENTS))
  .min(1)
  .default([...NOTIFICATION_EVENTS])
  .describe(
    'Events that send a notification (default all): the phases Pending, Approved, Denied, Expired, Executed as an approval reaches them, and Withdrawn when the agent gives up on a pending request.',
  );

/** What every channel shares: name, filters and delivery bounds. */
const channelCommon = {
  name: DnsLabelSchema.describe(
    'Channel name: in logs, the metric’s channel label and (Slack) the interaction URL.',
  ),
  phases: PhaseListSchema,
  namespaces: z
    .array(DnsLabelSchema)
    .min(1)
    .optional()
    .describe('Only approvals in these namespaces; omitted: every namespace.'),
  timeout: DurationSchema.default('10s').describe('Per attempt (default 10s).'),
  maxAttempts: z
    .number()
    .int()
    .min(1)
    .max(20)
    .default(5)
    .describe(
      'Attempts before giving up on a network error, a timeout, 429 or 5xx (default 5); other answers are not retried.',
    ),
  initialBackoff: DurationSchema.default('1s').describe(
    'Wait before the second attempt; doubled before each further one, at most 1m (default 1s).',
  ),
};

const WebhookChannelSchema = z
  .object({
    type: z.literal('webhook'),
    ...channelCommon,
    url: z.url({ protocol: /^https?$/ }).describe('Where the JSON is POSTed (http or https).'),
    hmacSecretRef: SecretKeyRefSchema.describe(
      'The HMAC-SHA256 key the X-Pgwarden-Signature header is computed with.',
    ),
  })
  .strict()
  .describe('A generic webhook: signed JSON POSTed for each approval event.');

export const SLACK_USER_ID = /^[UW][A-Z0-9]{2,20}$/;

const SlackApproverSchema = z
  .object({
    user: z.string().min(1).max(253).describe('Kubernetes user name the decision is made as.'),
    groups: z
      .array(z.string().min(1).max(253))
      .default([])
      .describe(
        'Kubernetes groups of that user (the API server cannot look them up for an impersonated user).',
      ),
  })
  .strict();

const SlackChannelSchema = z
  .object({
    type: z.literal('slack'),
    ...channelCommon,
    webhookUrlSecretRef: SecretKeyRefSchema.optional().describe(
      'An incoming webhook URL (Slack treats it as a secret). Either this, or tokenSecretRef with channel.',
    ),
    tokenSecretRef: SecretKeyRefSchema.optional().describe(
      'A bot token (xoxb-…) for chat.postMessage, with channel.',
    ),
    channel: z.string().min(1).optional().describe('Slack channel id or name for chat.postMessage.'),
    apiUrl: z
      .url({ protocol: /^https?$/ })
      .default('https://slack.com/api')
      .describe('Base URL of the Slack Web API (default https://slack.com/api).'),
    signingSecretRef: SecretKeyRefSchema.optional().describe(
      'The Slack app’s signing secret; without it the buttons are not offered and interactions are refused.',
    ),
    approvers: z
      .record(z.string(), SlackApproverSchema)
      .superRefine((approvers, ctx) => {
        for (const id of Object.keys(approvers)) {
          if (!SLACK_USER_ID.test(id)) {
            ctx.addIssue({
              code: 'custom',
              path: [id],
              message: `${describeValue(id)} is not a Slack user id (e.g. U024BE7LH)`,
            });
          }
        }
      })
      .default({})
      .describe(
        'Slack user id → the Kubernetes identity a button press decides as. Unmapped Slack users are refused. The policy’s approvers and the self-approval check still apply.',
      ),
  })
  .strict()
  .superRefine((channel, ctx) => {
    const viaToken = channel.tokenSecretRef !== undefined || channel.channel !== undefined;
    if ((channel.webhookUrlSecretRef === undefined) === !viaToken) {
      ctx.addIssue({
        code: 'custom',
        message: 'set either webhookUrlSecretRef, or tokenSecretRef and channel',
      });
    } else if (viaToken && (channel.tokenSecretRef === undefined || channel.channel === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'chat.postMessage needs both tokenSecretRef and channel' });
    }
  })
  .describe('Slack: a message per approval event; pending ones carry Approve and Deny buttons.');

export const NotificationChannelSchema = z.discriminatedUnion('type', [
  WebhookChannelSchema,
  SlackChannelSchema,
]);
export type NotificationChannel = z.output<typeof NotificationChannelSchema>;
export type WebhookChannel = z.output<typeof WebhookChannelSchema>;
export type SlackChannel = z.output<typeof SlackChannelSchema>;

/** The file --notifications names. */
export const NotificationsConfigSchema = z
  .object({
    channels: z
      .array(NotificationChannelSchema)
      .superRefine((channels, ctx) => {
        const seen = new Set<string>();
        channels.forEach((channel, i) => {
          if (seen.has(channel.name)) {
            ctx.addIssue({
              code: 'custom',
              path: [i, 'name'],
              message: `duplicate channel "${channel.name}"`,
            });
          }
          seen.add(channel.name);
        });
      })
      .describe('Where approval events go.'),
    maxEventAge: DurationSchema.default('10m').describe(
      'Events that happened longer ago than this when the operator first sees them are not sent: after a restart or a change of leader, only recent events are sent again (with the same idempotency key), not every approval in the cluster (default 10m).',
    ),
  })
  .strict();
export type NotificationsConfig = z.output<typeof NotificationsConfigSchema>;

const TimestampSchema = z.iso.datetime();

/** The JSON body a webhook channel receives. */
export const ApprovalNotificationSchema = z
  .object({
    apiVersion: z.literal(`${API_GROUP}/${API_VERSION}`),
    kind: z.literal('ApprovalNotification'),
    event: z
      .enum(NOTIFICATION_EVENTS)
      .describe('The phase the approval reached, or Withdrawn: the agent gave up while it was pending.'),
    idempotencyKey: z
      .string()
      .describe('<uid>:<event>, also in X-Pgwarden-Idempotency-Key: the same event may arrive twice.'),
    approval: z
      .object({
        name: z.string(),
        namespace: z.string(),
        phase: z.enum(APPROVAL_REQUEST_PHASES),
        statement: z
          .object({
            text: z.string().describe('As the sidecar recorded it: credentials redacted.'),
            parameters: z.array(z.string().nullable()),
            fingerprint: z.string(),
          })
          .strict(),
        requester: z
          .object({
            namespace: z.string().nullable(),
            pod: z.string().nullable(),
            serviceAccount: z.string().nullable(),
            clientUser: z.string().nullable(),
          })
          .strict(),
        policy: z.object({ name: z.string(), rule: z.string(), message: z.string() }).strict(),
        requiredApprovals: z.number().int(),
        approvedBy: z.array(z.string()).describe('Approvals given so far.'),
        decidedBy: z.string().nullable(),
        reason: z.string().nullable(),
        createdAt: TimestampSchema,
        expiresAt: TimestampSchema,
        decidedAt: TimestampSchema.nullable(),
        execution: z
          .object({
            at: TimestampSchema,
            commandTag: z.string().nullable(),
            rows: z.number().int().nullable(),
            error: z.string().nullable(),
          })
          .strict()
          .nullable()
          .describe('The latest run (phase Executed).'),
        impact: ImpactSchema.nullable(),
      })
      .strict(),
    commands: z
      .object({ show: z.string(), approve: z.string(), deny: z.string() })
      .strict()
      .describe('kubectl commands that show, approve and deny the request.'),
  })
  .strict();
export type ApprovalNotification = z.output<typeof ApprovalNotificationSchema>;

/**
 * The part of Slack's block_actions interaction payload (form field
 * "payload", JSON) the operator reads. Slack sends more; it is ignored.
 */
export const SlackInteractionSchema = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: z.string(), username: z.string().optional() }),
  actions: z
    .array(
      z.object({
        action_id: z.enum(['approve', 'deny']),
        value: z.string().describe('<namespace>/<name> of the QueryApproval.'),
      }),
    )
    .length(1),
  response_url: z.url().optional(),
});
export type SlackInteraction = z.output<typeof SlackInteractionSchema>;
