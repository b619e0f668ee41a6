import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { type ApprovalRecord, ApprovalRecordSchema } from '@pgwarden/crds';
import { z } from 'zod';
import { ConfigError } from '../config/config-error.js';
import { DEFAULT_APPROVAL_LISTEN } from '../config/proxy-config.js';

const USAGE = `Usage: pgwarden approvals <command> [options]

Decides statements the proxy holds for approval, through its approval API.

Commands:
  list                 Every request, oldest first (--pending: only those waiting)
  show ID              One request: statement, parameters, requester, policy, status
  approve ID           Approve; the held statement runs (or runs when re-run)
  deny ID              Deny; the client gets an error naming you and the reason

Options:
  --reason TEXT        Why (approve, deny); the client sees a denial's reason
  --as NAME            Decide as NAME instead of the OS user (${userInfo().username})
  --api HOST:PORT      The proxy's --approval-listen (default ${DEFAULT_APPROVAL_LISTEN};
                       env PGWARDEN_APPROVAL_LISTEN)
  --json               Print JSON instead of text
`;

/** `pgwarden approvals …`; returns the exit code: 0 done, 1 refused or failed, 2 usage. */
export async function runApprovalsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      reason: { type: 'string' },
      as: { type: 'string' },
      api: { type: 'string' },
      json: { type: 'boolean' },
      pending: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  const [command, id, ...extra] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  const api = `http://${values.api ?? process.env.PGWARDEN_APPROVAL_LISTEN ?? DEFAULT_APPROVAL_LISTEN}`;
  const print = (record: ApprovalRecord) =>
    process.stdout.write(values.json ? `${JSON.stringify(record, null, 2)}\n` : describe(record));
  const needId = () => {
    if (id === undefined || extra.length > 0) throw new ConfigError(`approvals ${command} takes one ID`);
    return encodeURIComponent(id);
  };
  switch (command) {
    case 'list': {
      const records = z.array(ApprovalRecordSchema).parse(await call(api, 'GET', '/approvals'));
      const shown = values.pending ? records.filter((r) => r.status.phase === 'Pending') : records;
      process.stdout.write(values.json ? `${JSON.stringify(shown, null, 2)}\n` : table(shown));
      return 0;
    }
    case 'show':
      print(ApprovalRecordSchema.parse(await call(api, 'GET', `/approvals/${needId()}`)));
      return 0;
    case 'approve':
    case 'deny': {
      const body = { by: values.as ?? userInfo().username, reason: values.reason ?? null };
      const record = ApprovalRecordSchema.parse(
        await call(api, 'POST', `/approvals/${needId()}/${command}`, body),
      );
      process.stdout.write(
        `${record.id}: ${record.status.phase}${record.status.phase === 'Pending' ? ` (${record.status.approvals.length} of ${record.request.requiredApprovals} approvals)` : ''}\n`,
      );
      return 0;
    }
    default:
      throw new ConfigError(`approvals: unknown command "${command}"; use list, show, approve or deny`);
  }
}

/** A refusal of the API (404, 403, 409…): the CLI prints its message and exits 1. */
export class ApprovalApiError extends Error {
  override name = 'ApprovalApiError';
}

async function call(api: string, method: string, path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${api}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApprovalApiError(
      `cannot reach the approval API at ${api}: ${(err as { cause?: Error }).cause?.message ?? (err as Error).message}; is the proxy running with a policy that has spec.approval (--approval-listen)?`,
    );
  }
  const payload = (await res.json()) as { error?: string };
  if (!res.ok) throw new ApprovalApiError(payload.error ?? `HTTP ${res.status}`);
  return payload;
}

function table(records: readonly ApprovalRecord[]): string {
  if (records.length === 0) return 'no approval requests\n';
  const rows = records.map((r) => [
    r.id,
    r.status.phase,
    r.request.policy.rule,
    r.request.requester.clientUser ?? '-',
    r.request.createdAt,
    oneLine(r.request.statement.text, 60),
  ]);
  const header = ['ID', 'PHASE', 'RULE', 'REQUESTER', 'CREATED', 'STATEMENT'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  return `${[header, ...rows]
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] as number))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

function describe(r: ApprovalRecord): string {
  const { request: q, status: s } = r;
  const lines = [
    `id:          ${r.id}`,
    `phase:       ${s.phase}`,
    `statement:   ${q.statement.text}`,
    ...(q.statement.parameters.length > 0
      ? [
          `parameters:  ${q.statement.parameters.map((p, i) => `$${i + 1}=${p === null ? 'NULL' : JSON.stringify(p)}`).join(' ')}`,
        ]
      : []),
    `fingerprint: ${q.statement.fingerprint}`,
    `requester:   ${q.requester.clientUser ?? '-'} from ${q.requester.clientAddress ?? '-'} (session ${q.requester.session})`,
    `policy:      ${q.policy.name}, rule "${q.policy.rule}"${q.policy.message ? `: ${q.policy.message}` : ''}`,
    `scope:       ${q.scope.type}${q.scope.durationMs ? ` for ${q.scope.durationMs / 1000}s` : ''}; ${q.requiredApprovals} approval(s) needed`,
    `created:     ${q.createdAt}; expires ${q.expiresAt}`,
  ];
  for (const a of s.approvals)
    lines.push(`approved by: ${a.by} at ${a.at}${a.reason ? `: ${a.reason}` : ''}`);
  if (s.phase === 'Denied')
    lines.push(`denied by:   ${s.decidedBy} at ${s.decidedAt}${s.reason ? `: ${s.reason}` : ''}`);
  if (s.validUntil) lines.push(`valid until: ${s.validUntil}`);
  for (const e of s.executions) {
    lines.push(`executed:    ${e.at} in ${e.session}: ${e.commandTag ?? e.error ?? 'running'}`);
  }
  return `${lines.join('\n')}\n`;
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
