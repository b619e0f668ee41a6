import { type ApprovalRecord, STATEMENT_EXCERPT_ANNOTATION, statementExcerpt } from '@pgwarden/crds';
import { type QueryApproval, toRecord } from '../approval/query-approval.js';

/** `kubectl pgwarden list`: the queue as a table, like `kubectl get`. */
export function formatTable(items: readonly QueryApproval[], withNamespace: boolean, now: number): string {
  if (items.length === 0) return 'No approval requests found.\n';
  const header = ['NAME', 'PHASE', 'POLICY', 'RULE', 'POD', 'STATEMENT', 'DECIDED BY', 'AGE'];
  const rows = items.map((item) => {
    const { id, request, status } = toRecord(item);
    const excerpt =
      item.metadata.annotations?.[STATEMENT_EXCERPT_ANNOTATION] ?? statementExcerpt(request.statement.text);
    return [
      id,
      status.phase,
      request.policy.name,
      request.policy.rule,
      request.requester.pod ?? '<none>',
      excerpt,
      status.decidedBy ?? '<none>',
      age(now - Date.parse(request.createdAt)),
    ];
  });
  const table = withNamespace
    ? [['NAMESPACE', ...header], ...rows.map((row, i) => [items[i]?.metadata.namespace ?? '', ...row])]
    : [header, ...rows];
  const widths = (table[0] ?? []).map((_, c) => Math.max(...table.map((row) => (row[c] ?? '').length)));
  return table
    .map(
      (row) =>
        `${row.map((cell, c) => cell.padEnd(c === row.length - 1 ? 0 : (widths[c] ?? 0) + 3)).join('')}\n`,
    )
    .join('');
}

/** `kubectl pgwarden show`: one request, everything a decider should read first. */
export function formatRecord(namespace: string, record: ApprovalRecord): string {
  const { id, request, status } = record;
  const { statement, requester, policy, approvers } = request;
  const lines: [string, string][] = [
    ['Name', id],
    ['Namespace', namespace],
    ['Phase', `${status.phase} (${status.approvals.length} of ${request.requiredApprovals} approvals)`],
    ['Policy', `${policy.name}, rule "${policy.rule}"${policy.message ? `: ${policy.message}` : ''}`],
    [
      'Requester',
      [
        requester.pod ? `pod ${requester.namespace}/${requester.pod}` : null,
        requester.serviceAccount ? `service account ${requester.serviceAccount}` : null,
        `session ${requester.session}`,
        requester.clientUser ? `client user ${requester.clientUser}` : null,
        requester.clientAddress ? `from ${requester.clientAddress}` : null,
      ]
        .filter(Boolean)
        .join(', '),
    ],
    ['Statement', statement.text],
    ['Protocol', statement.protocol],
  ];
  if (statement.parameters.length > 0) {
    lines.push([
      'Parameters',
      statement.parameters.map((p, i) => `$${i + 1} = ${p === null ? 'NULL' : `'${p}'`}`).join(', '),
    ]);
  }
  lines.push(
    [
      'Scope',
      request.scope.durationMs === null
        ? request.scope.type
        : `${request.scope.type} for ${request.scope.durationMs / 1000}s`,
    ],
    [
      'Approvers',
      [
        approvers.users.length > 0 ? `users ${approvers.users.join(', ')}` : null,
        approvers.groups.length > 0 ? `groups ${approvers.groups.join(', ')}` : null,
      ]
        .filter(Boolean)
        .join('; ') || 'anyone allowed to write the status',
    ],
    ['Created', request.createdAt],
    ['Expires', request.expiresAt],
  );
  for (const a of status.approvals)
    lines.push(['Approved by', `${a.by} at ${a.at}${a.reason ? `: ${a.reason}` : ''}`]);
  if (status.decidedBy) {
    lines.push([
      'Decided by',
      `${status.decidedBy} at ${status.decidedAt}${status.reason ? `: ${status.reason}` : ''}`,
    ]);
  }
  if (status.validUntil) lines.push(['Valid until', status.validUntil]);
  for (const e of status.executions) {
    lines.push(['Ran', `at ${e.at} in session ${e.session}: ${e.commandTag ?? e.error ?? 'running'}`]);
  }
  if (status.impact) {
    const { result, rowsAffected, planRows, error } = status.impact;
    lines.push([
      'Impact preview',
      `${result}${rowsAffected === null ? '' : `: ${rowsAffected} rows affected`}${planRows === null ? '' : `, planner estimate ${planRows}`}${error ? ` (${error})` : ''}`,
    ]);
  }
  const width = Math.max(...lines.map(([k]) => k.length)) + 2;
  return lines.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}\n`).join('');
}

/** What a decision did, in one line, with who decided as the admission webhook stamped it. */
export function formatDecision(record: ApprovalRecord, approve: boolean): string {
  const { id, request, status } = record;
  if (!approve) return `${id} denied by ${status.decidedBy}; the statement will not run\n`;
  const count = `${status.approvals.length} of ${request.requiredApprovals}`;
  const by = status.approvals[status.approvals.length - 1]?.by;
  return status.phase === 'Approved'
    ? `${id} approved by ${by} (${count}); the statement may run\n`
    : `${id} approved by ${by} (${count}); still ${status.phase}: another approver is needed\n`;
}

/** Age as kubectl prints it: 45s, 12m, 3h, 2d. */
function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}
