import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApprovalVerdictSchema } from '@pgwarden/crds';
import { listenOn } from '../admin/http.js';
import type { Logger } from '../observe/log.js';
import type { Approvals } from './approvals.js';

/** Largest request body the API reads: a name and a reason. */
const MAX_BODY_BYTES = 16 * 1024;

/**
 * The standalone approval API, on a loopback port of its own:
 *   GET  /approvals                 every request, oldest first
 *   GET  /approvals/ID              one request
 *   POST /approvals/ID/approve      {"by": "alice", "reason": "…"}
 *   POST /approvals/ID/deny         {"by": "alice", "reason": "…"}
 * Whoever can reach a loopback port of this host is trusted to say who they
 * are (`by`: the OS user, or `pgwarden approvals --as`); self-approval and
 * approvers outside spec.approval.approvers.users are refused all the same.
 * In Kubernetes the API server and its admission webhook take this role.
 */
export async function startApprovalApi(
  listen: { host: string; port: number },
  approvals: Approvals,
  log: Logger,
): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer((req, res) => {
    route(req, res, approvals, log).catch((err: unknown) => {
      log.error({ err: (err as Error).message }, 'approval API request failed');
      if (!res.headersSent) reply(res, 500, { error: (err as Error).message });
    });
  });
  return { server, address: await listenOn(server, listen) };
}

async function route(
  req: IncomingMessage,
  res: ServerResponse,
  approvals: Approvals,
  log: Logger,
): Promise<void> {
  const parts = (req.url ?? '/').split('?')[0]?.split('/').filter(Boolean) ?? [];
  if (parts[0] !== 'approvals' || parts.length > 3) {
    reply(res, 404, { error: 'not found; try GET /approvals' });
    return;
  }
  const [, id, action] = parts;
  if (action === undefined) {
    if (req.method !== 'GET') {
      reply(res, 405, { error: 'use GET' }, { allow: 'GET' });
      return;
    }
    if (id === undefined) {
      reply(res, 200, approvals.list());
      return;
    }
    const record = approvals.get(id);
    reply(res, record ? 200 : 404, record ?? { error: `no approval request ${id}` });
    return;
  }
  if (action !== 'approve' && action !== 'deny') {
    reply(res, 404, { error: `unknown action ${action}; use approve or deny` });
    return;
  }
  if (req.method !== 'POST') {
    reply(res, 405, { error: 'use POST' }, { allow: 'POST' });
    return;
  }
  const body = await readJson(req);
  const verdict = ApprovalVerdictSchema.safeParse(body);
  if (!verdict.success) {
    reply(res, 400, {
      error: `body: ${verdict.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`,
    });
    return;
  }
  const { by, reason } = verdict.data;
  const result = await approvals.decide(id as string, action === 'approve', by, reason);
  if (!result.ok) {
    log.warn({ approval: id, by, action, reason: result.message }, 'approval decision refused');
    reply(res, result.status, { error: result.message });
    return;
  }
  log.info({ approval: id, by, action, phase: result.record.status.phase }, 'approval decided');
  reply(res, 200, result.record);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return null;
  }
}

function reply(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(`${JSON.stringify(body)}\n`);
}
