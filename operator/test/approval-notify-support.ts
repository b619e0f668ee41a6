import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ApprovalRequest, SLACK_INTERACTIONS_PATH } from '@pgwarden/crds';
import type { PostgresCluster, TestCluster } from '@pgwarden/e2e';
import { afterAll } from 'vitest';
import { applyObject } from './fixtures.js';
import { grantUrlOf, operatorCa } from './grant-fixtures.js';
import { ordersConnection } from './operator-setup.js';

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

export const HMAC_KEY = 'e2e-webhook-hmac-key';
export const SIGNING_SECRET = 'e2e-slack-signing-secret';

export interface NotificationChannels {
  /** The --notifications file. */
  file: string;
  /** Receives the webhook channel "ops-webhook" (every phase). */
  hook: Receiver;
  /** Slack's Web API for the channel "dba-slack" (Pending only): answers ok, with channel C0DBA and a ts. */
  slackApi: Receiver;
  /** Where Slack's response_url points. */
  slackResponses: Receiver;
}

/**
 * For a suite on a cluster: local receivers, the Secret with the HMAC key, bot
 * token and signing secret in the operator's namespace, and a notifications
 * file naming them, with `approvers` as the Slack channel's user map. Receivers
 * and file go after the suite.
 */
export function useNotificationChannels(): (
  k8s: TestCluster,
  operatorNamespace: string,
  approvers: Record<string, { user: string; groups?: string[] }>,
) => Promise<NotificationChannels> {
  const receivers: Receiver[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    for (const r of receivers) await r.close();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  return async (k8s, operatorNamespace, approvers) => {
    const hook = await startReceiver();
    // Each posted message gets its own ts, as Slack's do.
    const slackApi = await startReceiver((_, i) => ({
      status: 200,
      body: `{"ok":true,"channel":"C0DBA","ts":"${i + 1}.0"}`,
    }));
    const slackResponses = await startReceiver();
    receivers.push(hook, slackApi, slackResponses);
    await applyObject(k8s, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'approval-notifications', namespace: operatorNamespace },
      stringData: { hmac: HMAC_KEY, 'slack-token': 'xoxb-e2e', 'slack-signing': SIGNING_SECRET },
    });
    const dir = await mkdtemp(join(tmpdir(), 'pgwarden-notify-'));
    dirs.push(dir);
    const file = join(dir, 'notifications.yaml');
    const secret = (key: string) => ({ name: 'approval-notifications', key });
    await writeFile(
      file,
      JSON.stringify({
        channels: [
          {
            type: 'webhook',
            name: 'ops-webhook',
            url: `${hook.url}/pgwarden`,
            hmacSecretRef: secret('hmac'),
          },
          {
            type: 'slack',
            name: 'dba-slack',
            phases: ['Pending'],
            apiUrl: slackApi.url,
            channel: 'C0DBA',
            tokenSecretRef: secret('slack-token'),
            signingSecretRef: secret('slack-signing'),
            approvers,
          },
        ],
      }),
    );
    return { file, hook, slackApi, slackResponses };
  };
}

/**
 * Presses a button of the "dba-slack" channel for `approval` as Slack would:
 * a signed form POST to the operator's HTTPS listener (given by the
 * servedWebhooks flags), trusting only the operator's CA.
 */
export async function slackButtons(
  k8s: TestCluster,
  operatorNamespace: string,
  serveFlags: readonly string[],
  approval: { namespace: string; name: string },
  responseUrl: string,
): Promise<
  (
    slackUser: string,
    action: 'approve' | 'deny',
    signingSecret?: string,
  ) => Promise<{ status: number; text: string }>
> {
  const port = Number(new URL(grantUrlOf(serveFlags)).port);
  const ca = await operatorCa(k8s, operatorNamespace);
  return (slackUser, action, signingSecret = SIGNING_SECRET) => {
    const body = slackInteractionBody(
      slackUser,
      action,
      `${approval.namespace}/${approval.name}`,
      responseUrl,
    );
    const headers = slackSigned(signingSecret, body);
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port,
          path: `${SLACK_INTERACTIONS_PATH}/dba-slack`,
          method: 'POST',
          ca,
          headers,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              text: (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { text: string }).text,
            }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  };
}

/**
 * Table orders (ids 1..rows) that the harness's SCRAM role may read and
 * delete from, and DatabaseConnection "orders" in `namespace` reaching it as
 * that role.
 */
export async function ordersDatabase(k8s: TestCluster, pg: PostgresCluster, namespace: string, rows: number) {
  await pg.psql(`
    CREATE TABLE orders (id int PRIMARY KEY, total numeric NOT NULL);
    INSERT INTO orders SELECT g, g * 10 FROM generate_series(1, ${rows}) g;
    GRANT SELECT, DELETE ON orders TO ${pg.users.scram.user};
  `);
  await ordersConnection(k8s, pg, namespace);
}
