import type { ApprovalNotification, Impact } from '@pgwarden/crds';

/**
 * Slack messages (Block Kit) for approval events. A pending request carries
 * Approve and Deny buttons whose value is "<namespace>/<name>"; the
 * interaction endpoint decides from that value alone. Statement text goes in a
 * code block; every text is cut to stay under Slack's 3000-character limit of a
 * block, and text from the request is escaped: in Slack's mrkdwn "<" starts a
 * link or mention and "&" an entity, which SQL such as `id < 5` must not.
 */

export interface SlackMessage {
  text: string;
  blocks: unknown[];
}

const MAX_STATEMENT_CHARS = 2000;
const MAX_PARAMETERS_CHARS = 900;
const MAX_LINE_CHARS = 500;

const HEADLINES: Record<ApprovalNotification['event'], string> = {
  Pending: ':hourglass_flowing_sand: Statement held for approval',
  Approved: ':white_check_mark: Approved',
  Denied: ':no_entry: Denied',
  Expired: ':clock3: Expired undecided',
  Executed: ':heavy_check_mark: Executed',
  Withdrawn: ':leftwards_arrow_with_hook: Withdrawn',
};

export function slackMessage(notification: ApprovalNotification, withButtons: boolean): SlackMessage {
  const { approval, commands } = notification;
  const where = `\`${approval.name}\` in \`${approval.namespace}\``;
  const text = `${HEADLINES[notification.event]}: ${where}`;
  const blocks: unknown[] = [
    section(`*${HEADLINES[notification.event]}* ${where}\n${outcomeLine(notification)}`),
    section(
      `\`\`\`${cut(approval.statement.text, MAX_STATEMENT_CHARS)}\`\`\`${parameters(approval.statement.parameters)}`,
    ),
    context(
      [
        `policy *${approval.policy.name}*, rule *${approval.policy.rule}*${approval.policy.message ? `: ${cut(approval.policy.message)}` : ''}`,
        `requester ${requester(approval.requester)}`,
        notification.event === 'Pending' ? `expires ${approval.expiresAt}` : '',
        approval.impact ? impactLine(approval.impact) : '',
      ].filter(Boolean),
    ),
  ];
  if (notification.event === 'Pending') {
    if (withButtons) blocks.push(buttons(`${approval.namespace}/${approval.name}`));
    blocks.push(context([`\`${commands.approve}\``, `\`${commands.deny}\``]));
  }
  return { text, blocks };
}

/** The message that replaces a pending one after a button decided it. */
export function decidedMessage(name: string, namespace: string, line: string): SlackMessage {
  const text = `\`${name}\` in \`${namespace}\`: ${cut(line)}`;
  return { text, blocks: [section(text)] };
}

function outcomeLine({ approval, event }: ApprovalNotification): string {
  if (event === 'Withdrawn') return 'the agent gave up waiting; there is nothing to decide';
  switch (approval.phase) {
    case 'Pending':
      return `${approval.approvedBy.length} of ${approval.requiredApprovals} approvals${approval.approvedBy.length > 0 ? ` (${approval.approvedBy.join(', ')})` : ''}`;
    case 'Approved':
    case 'Denied':
      return `by *${cut(approval.decidedBy ?? 'unknown')}*${approval.reason ? `: ${cut(approval.reason)}` : ''}`;
    case 'Expired':
      return `nobody decided by ${approval.expiresAt}`;
    case 'Executed': {
      const run = approval.execution;
      return run?.error ? `failed: ${cut(run.error)}` : `\`${run?.commandTag ?? ''}\``;
    }
  }
}

function impactLine(impact: Impact): string {
  if (impact.result === 'Previewed') {
    return `preview (rolled back): *${impact.rowsAffected} rows*, planner estimate ${impact.planRows ?? '?'}`;
  }
  if (impact.result === 'Running') return 'preview running';
  return `preview ${impact.result.toLowerCase()}: ${cut(impact.error ?? '')}`;
}

function requester(r: ApprovalNotification['approval']['requester']): string {
  if (r.pod) return `pod \`${r.namespace}/${r.pod}\` (service account ${r.serviceAccount ?? '?'})`;
  return `client user \`${cut(r.clientUser ?? '?', 100)}\``;
}

function parameters(values: readonly (string | null)[]): string {
  if (values.length === 0) return '';
  const list = values.map((v, i) => `$${i + 1} = ${v === null ? 'NULL' : `\`${cut(v, 200)}\``}`).join(', ');
  return `\nparameters: ${list.length <= MAX_PARAMETERS_CHARS ? list : `${list.slice(0, MAX_PARAMETERS_CHARS - 1)}…`}`;
}

/** Escaped for mrkdwn and cut to `max` characters; a run of backticks cannot close a code block early. */
function cut(text: string, max = MAX_LINE_CHARS): string {
  const safe = text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('```', '`\u200b`\u200b`');
  return safe.length <= max ? safe : `${safe.slice(0, max - 1)}…`;
}

const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });
const context = (items: string[]) => ({
  type: 'context',
  elements: items.map((text) => ({ type: 'mrkdwn', text })),
});

function buttons(value: string) {
  const button = (action: 'approve' | 'deny', label: string, style: 'primary' | 'danger') => ({
    type: 'button',
    action_id: action,
    text: { type: 'plain_text', text: label },
    style,
    value,
  });
  return {
    type: 'actions',
    elements: [button('approve', 'Approve', 'primary'), button('deny', 'Deny', 'danger')],
  };
}
