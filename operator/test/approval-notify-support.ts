import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApprovalRequest } from '@pgwarden/crds';

// Test receivers and signing as a third party would write them from
// docs/approval-notifications.md, without the operator's code.

export interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/** A plain HTTP receiver answering each request with what `answer` says (default 200 "ok"). */
export async function startReceiver(
  answer: (request: Received, index: number) => { status: number; body?: string } = () => ({ status: 200 }),
): Promise<Receiver> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = {
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      received.push(request);
      const { status, body = 'ok' } = answer(request, received.length - 1);
      res
        .writeHead(status, { 'content-type': body.startsWith('{') ? 'application/json' : 'text/plain' })
        .end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * The receiver's side of X-Pgwarden-Signature, per the documented recipe:
 * HMAC-SHA256 with the shared key over "<X-Pgwarden-Timestamp>.<raw body>",
 * hex, prefixed "sha256=", compared in constant time; the timestamp within
 * five minutes.
 */
export function pgwardenSignatureValid(key: string, request: Received): boolean {
  const timestamp = String(request.headers['x-pgwarden-timestamp'] ?? '');
  const given = Buffer.from(String(request.headers['x-pgwarden-signature'] ?? ''));
  const expected = Buffer.from(
    `sha256=${createHmac('sha256', key).update(`${timestamp}.${request.body}`).digest('hex')}`,
  );
  const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) <= 300;
  return fresh && given.length === expected.length && timingSafeEqual(given, expected);
}

/** Headers of a Slack request signed the way Slack signs (v0), at `timestamp` (Unix seconds). */
export function slackSigned(secret: string, body: string, timestamp = Math.floor(Date.now() / 1000)) {
  const signature = `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return {
    'content-type': 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': String(timestamp),
    'x-slack-signature': signature,
  };
}

/** The form body of a block_actions interaction, as Slack posts it. */
export function slackInteractionBody(
  userId: string,
  action: 'approve' | 'deny',
  value: string,
  responseUrl: string,
) {
  const payload = {
    type: 'block_actions',
    user: { id: userId, username: `slack-${userId.toLowerCase()}` },
    api_app_id: 'A0TEST',
    actions: [{ action_id: action, block_id: 'b1', value, type: 'button', action_ts: '1' }],
    response_url: responseUrl,
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/** A request as a sidecar would have filed it for `DELETE FROM orders WHERE id = $1` ['42']. */
export function heldDelete(overrides: Partial<ApprovalRequest> = {}): ApprovalRequest {
  const now = Date.now();
  return {
    statement: {
      protocol: 'extended',
      text: 'DELETE FROM orders WHERE id = $1',
      parameters: ['42'],
      digest: 'a'.repeat(64),
      fingerprint: 'b'.repeat(16),
    },
    requester: {
      clientAddress: '127.0.0.1:50000',
      clientUser: 'agent',
      session: 'session-1',
      namespace: 'agents',
      pod: 'analytics-0',
      serviceAccount: 'analytics-agent',
    },
    policy: {
      name: 'orders-writes',
      hash: 'c'.repeat(64),
      rule: 'deletes-need-approval',
      message: 'a human approves deletes',
    },
    approvers: { users: [], groups: ['dba'] },
    requiredApprovals: 1,
    scope: { type: 'once', durationMs: null },
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 3_600_000).toISOString(),
    ...overrides,
  };
}
