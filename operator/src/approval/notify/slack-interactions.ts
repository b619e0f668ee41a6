import type { IncomingMessage } from 'node:http';
import {
  type ApprovalStatus,
  type Approver,
  type SlackChannel,
  type SlackInteraction,
  SlackInteractionSchema,
} from '@pgwarden/crds';
import type { Log } from '../../reconcile/loop.js';
import type { HttpHandler } from '../../webhook/admission.js';
import type { SecretReader } from './secrets.js';
import { verifySlackSignature } from './signature.js';
import { decidedMessage, type SlackMessage } from './slack-message.js';

/** Slack's interaction payloads are a few KiB; anything much larger is not from Slack. */
const MAX_BODY_BYTES = 64 * 1024;

export type SlackDecisionResult =
  | { ok: true; status: ApprovalStatus }
  | { ok: false; status: 403 | 404 | 409; message: string };

/** Records a decision as `approver` (slack-decision.ts writes it through the API server). */
export type SlackDecider = (
  target: { namespace: string; name: string },
  approve: boolean,
  approver: Approver,
  reason: string,
) => Promise<SlackDecisionResult>;

/** What became of one interaction request: the metric's result label. */
export type InteractionResult =
  | 'decided'
  | 'refused'
  | 'unmapped'
  | 'bad-signature'
  | 'stale'
  | 'invalid'
  | 'unknown-channel'
  | 'error';

export interface InteractionDeps {
  /** Slack channels by name: the last path segment picks one (its signing secret and user map). */
  channels: ReadonlyMap<string, SlackChannel>;
  readSecret: SecretReader;
  decide: SlackDecider;
  /** Updates the message a button was pressed on (Slack's response_url). */
  respond: (
    url: string,
    message: SlackMessage & { replace_original: boolean; response_type?: 'ephemeral' },
  ) => Promise<void>;
  count: (channel: string, result: InteractionResult) => void;
  log: Log;
  now?: () => number;
}

/**
 * POST {SLACK_INTERACTIONS_PATH}/<channel>: Slack's request when someone
 * presses Approve or Deny. The signature is checked before anything of the
 * body is read; the Slack user must be mapped to a Kubernetes user in the
 * channel's approvers; the decision is then made as that user (see
 * slackDecider). Forged or stale requests get 401; everything Slack sent
 * correctly gets 200 (Slack shows an error for anything else), with the
 * outcome posted back to the message: replaced when decided, an ephemeral
 * note to the presser when refused.
 */
export function slackInteractionsHandler(deps: InteractionDeps): HttpHandler {
  const now = deps.now ?? Date.now;
  return async (req, res) => {
    const channelName = (req.url ?? '').split('?')[0]?.split('/').at(-1) ?? '';
    const channel = deps.channels.get(channelName);
    const finish = (status: number, result: InteractionResult, text: string) => {
      deps.count(channel?.name ?? 'unknown', result);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ text }));
    };
    if (req.method !== 'POST') return finish(405, 'invalid', 'POST only');
    if (!channel) return finish(404, 'unknown-channel', `no Slack channel "${channelName}" is configured`);
    const raw = await readBody(req);
    if (raw === undefined) return finish(413, 'invalid', 'request too large');
    if (!channel.signingSecretRef) {
      return finish(
        403,
        'bad-signature',
        `channel "${channel.name}" has no signingSecretRef: interactions are off`,
      );
    }
    const secret = await deps.readSecret(channel.signingSecretRef);
    const verified = verifySlackSignature(
      secret,
      header(req, 'x-slack-request-timestamp'),
      header(req, 'x-slack-signature'),
      raw,
      now(),
    );
    if (!verified.ok) {
      deps.log('slack-interaction-refused', { channel: channel.name, reason: verified.reason });
      return verified.reason === 'stale'
        ? finish(401, 'stale', 'X-Slack-Request-Timestamp is more than 5 minutes from now')
        : finish(401, 'bad-signature', 'X-Slack-Signature does not match the signing secret');
    }
    const interaction = parseInteraction(raw);
    if (!interaction)
      return finish(400, 'invalid', 'not a block_actions payload with one approve or deny action');
    const action = interaction.actions[0] as SlackInteraction['actions'][number];
    const [namespace = '', name = ''] = action.value.split('/');
    const slackUser = interaction.user.id;
    const approver = channel.approvers[slackUser];
    // Slack wants its answer within 3 s: the message update goes out after it, not before.
    const update = (line: string, replace: boolean) => {
      if (!interaction.response_url) return;
      const message = { ...decidedMessage(name, namespace, line), replace_original: replace };
      deps
        .respond(interaction.response_url, replace ? message : { ...message, response_type: 'ephemeral' })
        .catch((error) => deps.log('slack-respond-failed', { channel: channel.name, error: String(error) }));
    };
    if (!approver) {
      deps.log('slack-interaction-refused', {
        channel: channel.name,
        reason: 'unmapped',
        slackUser,
        approval: action.value,
      });
      const line = `Slack user ${slackUser} is not mapped to a Kubernetes user in channel "${channel.name}"; nothing was decided`;
      update(line, false);
      return finish(200, 'unmapped', line);
    }
    const approve = action.action_id === 'approve';
    const reason = `${approve ? 'approved' : 'denied'} in Slack by ${interaction.user.username ?? slackUser} (${slackUser})`;
    let decided: Awaited<ReturnType<SlackDecider>>;
    try {
      decided = await deps.decide({ namespace, name }, approve, approver, reason);
    } catch (error) {
      deps.log('slack-decision-failed', {
        channel: channel.name,
        approval: action.value,
        error: String(error),
      });
      update('the decision could not be written; try again or use kubectl pgwarden', false);
      return finish(200, 'error', 'the decision could not be written');
    }
    if (!decided.ok) {
      deps.log('slack-decision-refused', {
        channel: channel.name,
        approval: action.value,
        user: approver.user,
        message: decided.message,
      });
      update(`refused: ${decided.message}`, false);
      return finish(200, 'refused', decided.message);
    }
    const line =
      decided.status.phase === 'Pending'
        ? `approved by ${approver.user} (${decided.status.approvals.length} approvals so far)`
        : `*${decided.status.phase}* by ${approver.user} via Slack`;
    deps.log('slack-decision', {
      channel: channel.name,
      approval: action.value,
      user: approver.user,
      phase: decided.status.phase,
    });
    update(line, decided.status.phase !== 'Pending');
    return finish(200, 'decided', line);
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseInteraction(raw: string): SlackInteraction | undefined {
  try {
    const payload = new URLSearchParams(raw).get('payload');
    if (payload === null) return undefined;
    const parsed = SlackInteractionSchema.safeParse(JSON.parse(payload));
    if (!parsed.success || !/^[^/]+\/[^/]+$/.test(parsed.data.actions[0]?.value ?? '')) return undefined;
    return parsed.data;
  } catch {
    return undefined;
  }
}

/** The body as text, or undefined (and the connection dropped) past MAX_BODY_BYTES. */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.pause();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
