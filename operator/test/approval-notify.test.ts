import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CoreV1Api } from '@kubernetes/client-node';
import {
  ApprovalNotificationSchema,
  type ApprovalStatus,
  NotificationChannelSchema,
  NotificationsConfigSchema,
  pendingStatus,
  type SlackChannel,
} from '@pgwarden/crds';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sendToChannel } from '../src/approval/notify/channels.js';
import { loadNotificationsConfig } from '../src/approval/notify/config.js';
import { approvalNotification, type WatchedApproval } from '../src/approval/notify/payload.js';
import { secretReader } from '../src/approval/notify/secrets.js';
import { verifySlackSignature, webhookSignature } from '../src/approval/notify/signature.js';
import {
  type InteractionResult,
  type SlackDecider,
  slackInteractionsHandler,
} from '../src/approval/notify/slack-interactions.js';
import { slackMessage } from '../src/approval/notify/slack-message.js';
import {
  heldDelete,
  pgwardenSignatureValid,
  type Receiver,
  slackInteractionBody,
  slackSigned,
  startReceiver,
} from './approval-notify-support.js';

const HMAC_KEY = 'webhook-key-for-tests';
const SIGNING_SECRET = 'slack-signing-secret-for-tests';

const secrets: Record<string, string> = {
  'hook/key': HMAC_KEY,
  'slack/token': 'xoxb-test-token',
  'slack/signing': SIGNING_SECRET,
};
const readSecret = async ({ name, key }: { name: string; key: string }) => {
  const value = secrets[`${name}/${key}`];
  if (value === undefined) throw new Error(`Secret ${name} has no key "${key}"`);
  return value;
};

const approval: WatchedApproval = {
  metadata: { name: 'apr-m1x2k3abc', namespace: 'agents', uid: '5f0c1d9e-0000-4000-8000-000000000001' },
  spec: heldDelete(),
  status: pendingStatus(),
};

const receivers: Receiver[] = [];
const receiver = async (...args: Parameters<typeof startReceiver>) => {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
};
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});

const send = (channel: unknown, signal = new AbortController().signal) =>
  sendToChannel(NotificationChannelSchema.parse(channel), approvalNotification(approval), {
    readSecret,
    signal,
    now: Date.now,
  });

const webhook = (url: string, extra: Record<string, unknown> = {}) => ({
  type: 'webhook',
  name: 'ops',
  url,
  hmacSecretRef: { name: 'hook', key: 'key' },
  initialBackoff: '20ms',
  ...extra,
});

describe('signatures', () => {
  it('X-Pgwarden-Signature is sha256= and hex HMAC-SHA256 over "<timestamp>.<body>"', () => {
    // Reference value from OpenSSL: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac k
    expect(webhookSignature('k', 1_700_000_000, '{"a":1}')).toBe(
      'sha256=1b6ad1bc9bf48c52ce01939866d5877c6cc4e87ddad27e16673cb8c4964394a3',
    );
  });

  it('Slack v0 signatures: valid, wrong secret, changed body, stale, missing', () => {
    const body = 'payload=%7B%7D';
    const now = Date.now();
    const ts = Math.floor(now / 1000);
    const headers = slackSigned(SIGNING_SECRET, body, ts);
    const verify = (secret: string, text: string, h = headers, at = now) =>
      verifySlackSignature(secret, h['x-slack-request-timestamp'], h['x-slack-signature'], text, at);
    expect(verify(SIGNING_SECRET, body)).toEqual({ ok: true });
    expect(verify('another-secret', body)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verify(SIGNING_SECRET, `${body}x`)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verify(SIGNING_SECRET, body, headers, now + 301_000)).toEqual({ ok: false, reason: 'stale' });
    expect(verifySlackSignature(SIGNING_SECRET, undefined, undefined, body, now)).toEqual({
      ok: false,
      reason: 'missing',
    });
  });
});

describe('notification secrets', () => {
  it('are read from the operator namespace, kept 30 s, and errors name the Secret, never a value', async () => {
    const reads: string[] = [];
    const core = {
      readNamespacedSecret: async ({ name, namespace }: { name: string; namespace: string }) => {
        reads.push(`${namespace}/${name}`);
        if (name !== 'hook') throw Object.assign(new Error('HTTP-Code: 404'), { code: 404 });
        return { data: { key: Buffer.from('k1\n').toString('base64') } };
      },
    } as unknown as CoreV1Api;
    let now = 1_000_000;
    const read = secretReader(core, 'pgwarden-system', () => now);
    expect(await read({ name: 'hook', key: 'key' })).toBe('k1');
    expect(await read({ name: 'hook', key: 'key' })).toBe('k1');
    expect(reads).toEqual(['pgwarden-system/hook']);
    now += 30_001;
    await read({ name: 'hook', key: 'key' });
    expect(reads).toHaveLength(2);
    await expect(read({ name: 'hook', key: 'other' })).rejects.toThrow(
      'Secret pgwarden-system/hook has no key "other"',
    );
    await expect(read({ name: 'gone', key: 'key' })).rejects.toThrow('Secret pgwarden-system/gone not found');
  });
});

describe('webhook channel', () => {
  it('POSTs the approval as signed JSON that a receiver verifies with the documented recipe', async () => {
    const r = await receiver();
    const outcome = await send(webhook(`${r.url}/hooks/pgwarden`));
    expect(outcome).toEqual({ result: 'delivered', attempts: 1, status: 200, error: null });
    const [request] = r.received;
    expect(request?.path).toBe('/hooks/pgwarden');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request && pgwardenSignatureValid(HMAC_KEY, request)).toBe(true);
    expect(request?.headers['x-pgwarden-idempotency-key']).toBe(
      '5f0c1d9e-0000-4000-8000-000000000001:Pending',
    );
    const body = ApprovalNotificationSchema.parse(JSON.parse(request?.body ?? ''));
    expect(body).toMatchObject({
      event: 'Pending',
      approval: {
        name: 'apr-m1x2k3abc',
        namespace: 'agents',
        statement: { text: 'DELETE FROM orders WHERE id = $1', parameters: ['42'] },
        requester: { pod: 'analytics-0', serviceAccount: 'analytics-agent' },
        policy: { name: 'orders-writes', rule: 'deletes-need-approval' },
      },
      commands: { approve: 'kubectl pgwarden approve apr-m1x2k3abc -n agents --reason "…"' },
    });
    // A receiver with another key, or a body changed in transit, fails the check.
    expect(request && pgwardenSignatureValid('other-key', request)).toBe(false);
    expect(
      request && pgwardenSignatureValid(HMAC_KEY, { ...request, body: request.body.replace('42', '43') }),
    ).toBe(false);
  });

  it('retries 503 with backoff, then succeeds: same body and idempotency key, a fresh valid signature each time', async () => {
    const r = await receiver((_, i) => ({ status: i < 2 ? 503 : 200 }));
    const outcome = await send(webhook(r.url));
    expect(outcome).toEqual({ result: 'delivered', attempts: 3, status: 200, error: null });
    expect(r.received).toHaveLength(3);
    expect(new Set(r.received.map((q) => q.body)).size).toBe(1);
    expect(new Set(r.received.map((q) => q.headers['x-pgwarden-idempotency-key'])).size).toBe(1);
    expect(r.received.every((q) => pgwardenSignatureValid(HMAC_KEY, q))).toBe(true);
    const gaps = r.received.slice(1).map((q, i) => q.at - (r.received[i]?.at ?? 0));
    console.log('gaps between attempts (ms), backoff 20ms doubling:', gaps);
  });

  it('gives up after maxAttempts on 5xx, and on an unreachable receiver', async () => {
    const r = await receiver(() => ({ status: 502, body: 'bad gateway' }));
    expect(await send(webhook(r.url, { maxAttempts: 4 }))).toEqual({
      result: 'failed',
      attempts: 4,
      status: 502,
      error: 'HTTP 502: bad gateway',
    });
    expect(r.received).toHaveLength(4);
    const closed = await receiver();
    await closed.close();
    const unreachable = await send(webhook(closed.url, { maxAttempts: 2 }));
    expect(unreachable).toMatchObject({ result: 'failed', attempts: 2, status: null, error: 'ECONNREFUSED' });
  });

  it('does not retry a 4xx refusal; a timeout is retried', async () => {
    const refusing = await receiver(() => ({ status: 401, body: 'bad signature' }));
    expect(await send(webhook(refusing.url))).toEqual({
      result: 'rejected',
      attempts: 1,
      status: 401,
      error: 'HTTP 401: bad signature',
    });
    const slow = createServer(() => undefined);
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
    const outcome = await send(webhook(url, { maxAttempts: 2, timeout: '100ms' }));
    slow.closeAllConnections();
    slow.close();
    expect(outcome).toMatchObject({ result: 'failed', attempts: 2, error: 'timed out' });
  });

  it('a missing Secret fails the delivery without sending', async () => {
    const r = await receiver();
    const outcome = await send(webhook(r.url, { hmacSecretRef: { name: 'hook', key: 'nope' } }));
    expect(outcome).toEqual({
      result: 'failed',
      attempts: 0,
      status: null,
      error: 'Secret hook has no key "nope"',
    });
    expect(r.received).toHaveLength(0);
  });

  it('operator shutdown ends the backoff at once', async () => {
    const r = await receiver(() => ({ status: 503 }));
    const abort = new AbortController();
    const sending = send(webhook(r.url, { initialBackoff: '1h' }), abort.signal);
    await expect.poll(() => r.received.length).toBe(1);
    abort.abort();
    expect(await sending).toMatchObject({ result: 'failed', attempts: 1, status: 503 });
  });
});

describe('slack channel', () => {
  const slackChannel = (apiUrl: string) => ({
    type: 'slack',
    name: 'dba-slack',
    apiUrl,
    channel: 'C0DBA',
    tokenSecretRef: { name: 'slack', key: 'token' },
    signingSecretRef: { name: 'slack', key: 'signing' },
    approvers: { U0ALICE: { user: 'alice', groups: ['dba'] } },
  });

  it('chat.postMessage with the bot token: the message has Approve and Deny buttons for the approval', async () => {
    const r = await receiver(() => ({ status: 200, body: '{"ok":true,"channel":"C0DBA","ts":"1.2"}' }));
    expect(await send(slackChannel(`${r.url}/api`))).toMatchObject({
      result: 'delivered',
      attempts: 1,
      posted: { channel: 'C0DBA', ts: '1.2' },
    });
    const [request] = r.received;
    expect(request?.path).toBe('/api/chat.postMessage');
    expect(request?.headers.authorization).toBe('Bearer xoxb-test-token');
    const message = JSON.parse(request?.body ?? '') as {
      channel: string;
      text: string;
      blocks: { type: string; elements?: unknown[] }[];
    };
    expect(message.channel).toBe('C0DBA');
    expect(message.text).toContain('apr-m1x2k3abc');
    expect(JSON.stringify(message.blocks)).toContain('DELETE FROM orders WHERE id = $1');
    const actions = message.blocks.find((b) => b.type === 'actions');
    expect(actions?.elements).toEqual([
      expect.objectContaining({
        type: 'button',
        action_id: 'approve',
        value: 'agents/apr-m1x2k3abc',
        style: 'primary',
      }),
      expect.objectContaining({
        type: 'button',
        action_id: 'deny',
        value: 'agents/apr-m1x2k3abc',
        style: 'danger',
      }),
    ]);
  });

  it('a later event replaces the posted message (chat.update): the buttons go', async () => {
    const r = await receiver(() => ({ status: 200, body: '{"ok":true,"channel":"C0DBA","ts":"1.2"}' }));
    const approved = approvalNotification({
      ...approval,
      status: { ...pendingStatus(), phase: 'Approved', decidedBy: 'alice', reason: 'ok' },
    });
    const channel = NotificationChannelSchema.parse(slackChannel(`${r.url}/api`));
    const deps = { readSecret, signal: new AbortController().signal, now: Date.now };
    const outcome = await sendToChannel(channel, approved, deps, { channel: 'C0DBA', ts: '1.2' });
    expect(outcome).toMatchObject({ result: 'delivered', attempts: 1 });
    expect(outcome.posted).toBeUndefined();
    expect(r.received[0]?.path).toBe('/api/chat.update');
    const body = JSON.parse(r.received[0]?.body ?? '') as {
      channel: string;
      ts: string;
      text: string;
      blocks: unknown[];
    };
    expect(body).toMatchObject({
      channel: 'C0DBA',
      ts: '1.2',
      text: ':white_check_mark: Approved: `apr-m1x2k3abc` in `agents`',
    });
    expect(JSON.stringify(body.blocks)).not.toContain('"actions"');
  });

  it('message text: SQL escaped for mrkdwn, every block under Slack’s 3000 characters, one line per later phase', () => {
    const long = approvalNotification({
      ...approval,
      spec: heldDelete({
        statement: {
          ...approval.spec.statement,
          text: `DELETE FROM orders WHERE id < $1 AND note <> '&' ${'OR true '.repeat(1000)}`,
          parameters: Array.from({ length: 500 }, (_, i) => `value-${i}`.repeat(20)),
        },
      }),
    });
    const { blocks } = slackMessage(long, true);
    const texts = JSON.stringify(blocks);
    expect(texts).toContain("WHERE id &lt; $1 AND note &lt;&gt; '&amp;'");
    // Every mrkdwn text of a section or context block (button labels are objects, and short).
    const lengths = (blocks as { text?: { text: string }; elements?: { text?: unknown }[] }[]).flatMap(
      (b) => [
        b.text?.text.length ?? 0,
        ...(b.elements ?? []).map((e) => (typeof e.text === 'string' ? e.text.length : 0)),
      ],
    );
    console.log('longest block text (chars):', Math.max(...lengths));
    expect(lengths.every((n) => n <= 3000)).toBe(true);
    const line = (status: Partial<ApprovalStatus>) =>
      (
        slackMessage(approvalNotification({ ...approval, status: { ...pendingStatus(), ...status } }), true)
          .blocks[0] as { text: { text: string } }
      ).text.text.split('\n')[1];
    expect(line({ phase: 'Denied', decidedBy: 'bob', reason: 'not <today>' })).toBe(
      'by *bob*: not &lt;today&gt;',
    );
    expect(line({ phase: 'Expired' })).toBe(`nobody decided by ${approval.spec.expiresAt}`);
    expect(
      line({
        phase: 'Executed',
        executions: [
          { at: approval.spec.createdAt, session: 's', commandTag: 'DELETE 1', rows: 1, error: null },
        ],
      }),
    ).toBe('`DELETE 1`');
    const denied = slackMessage(
      approvalNotification({ ...approval, status: { ...pendingStatus(), phase: 'Denied' } }),
      true,
    );
    expect(JSON.stringify(denied.blocks)).not.toContain('"actions"');
    const withdrawn = slackMessage(approvalNotification(approval, 'Withdrawn'), true);
    expect(withdrawn.text).toBe(':leftwards_arrow_with_hook: Withdrawn: `apr-m1x2k3abc` in `agents`');
    expect(JSON.stringify(withdrawn.blocks)).toContain(
      'the agent gave up waiting; there is nothing to decide',
    );
    expect(JSON.stringify(withdrawn.blocks)).not.toContain('"actions"');
  });

  it('a Web API answer {"ok": false} is a refusal, not a delivery', async () => {
    const r = await receiver(() => ({ status: 200, body: '{"ok":false,"error":"channel_not_found"}' }));
    expect(await send(slackChannel(r.url))).toEqual({
      result: 'rejected',
      attempts: 1,
      status: 200,
      error: 'Slack refused: channel_not_found',
    });
  });

  it('an incoming webhook URL from a Secret; without a signing secret no buttons', async () => {
    const r = await receiver();
    secrets['slack/webhook'] = `${r.url}/services/T0/B0/xyz`;
    const outcome = await send({
      type: 'slack',
      name: 'ops-slack',
      webhookUrlSecretRef: { name: 'slack', key: 'webhook' },
    });
    expect(outcome.result).toBe('delivered');
    expect(r.received[0]?.path).toBe('/services/T0/B0/xyz');
    expect(r.received[0]?.body).not.toContain('"actions"');
  });

  it('a notifications file with an error names the field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgwarden-notify-config-'));
    const file = join(dir, 'notifications.yaml');
    await writeFile(
      file,
      'channels:\n  - type: webhook\n    name: ops\n    url: ftp://example.com\n    hmacSecretRef: { name: hook, key: key }\n',
    );
    await expect(loadNotificationsConfig(file)).rejects.toThrow(
      `--notifications ${file} is not valid: channels[0].url:`,
    );
    await writeFile(
      file,
      'channels:\n  - type: slack\n    name: s\n    channel: C1\n    tokenSecretRef: { name: s, key: t }\n    approvers: { alice: { user: alice } }\n',
    );
    await expect(loadNotificationsConfig(file)).rejects.toThrow(
      '"alice" is not a Slack user id (e.g. U024BE7LH)',
    );
    await rm(dir, { recursive: true });
  });

  it('the config refuses a Slack channel that is neither webhook nor chat.postMessage', () => {
    const result = NotificationsConfigSchema.safeParse({ channels: [{ type: 'slack', name: 's' }] });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe(
      'set either webhookUrlSecretRef, or tokenSecretRef and channel',
    );
  });
});

describe('Slack interaction endpoint', () => {
  const channel = NotificationChannelSchema.parse({
    type: 'slack',
    name: 'dba-slack',
    channel: 'C0DBA',
    tokenSecretRef: { name: 'slack', key: 'token' },
    signingSecretRef: { name: 'slack', key: 'signing' },
    approvers: { U0ALICE: { user: 'alice', groups: ['dba'] } },
  }) as SlackChannel;
  let server: Server | undefined;
  afterEach(() => server?.close());

  async function serve() {
    const decisions: Parameters<SlackDecider>[] = [];
    const results: InteractionResult[] = [];
    const responder = await receiver();
    const handler = slackInteractionsHandler({
      channels: new Map([[channel.name, channel]]),
      readSecret,
      decide: async (...args) => {
        decisions.push(args);
        return { ok: true, status: { ...pendingStatus(), phase: 'Approved', decidedBy: args[2].user } };
      },
      respond: async (url, message) => {
        await fetch(url, { method: 'POST', body: JSON.stringify(message) });
      },
      count: (_, result) => results.push(result),
      log: () => undefined,
    });
    server = createServer((req, res) => void handler(req, res));
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/slack/interactions/dba-slack`;
    const post = (body: string, headers: Record<string, string>) =>
      fetch(url, { method: 'POST', body, headers }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as { text: string },
      }));
    return { decisions, results, responder, post };
  }

  it('a signed press by a mapped user decides as that user and replaces the message', async () => {
    const { decisions, results, responder, post } = await serve();
    const body = slackInteractionBody(
      'U0ALICE',
      'approve',
      'agents/apr-m1x2k3abc',
      `${responder.url}/respond`,
    );
    const answer = await post(body, slackSigned(SIGNING_SECRET, body));
    expect(answer).toEqual({ status: 200, body: { text: '*Approved* by alice via Slack' } });
    expect(decisions).toEqual([
      [
        { namespace: 'agents', name: 'apr-m1x2k3abc' },
        true,
        { user: 'alice', groups: ['dba'] },
        'approved in Slack by slack-u0alice (U0ALICE)',
      ],
    ]);
    expect(results).toEqual(['decided']);
    await vi.waitFor(() => expect(responder.received).toHaveLength(1));
    expect(JSON.parse(responder.received[0]?.body ?? '')).toMatchObject({ replace_original: true });
  });

  it('refuses a bad signature, an old timestamp and an unmapped Slack user, deciding nothing', async () => {
    const { decisions, results, responder, post } = await serve();
    const body = slackInteractionBody(
      'U0ALICE',
      'approve',
      'agents/apr-m1x2k3abc',
      `${responder.url}/respond`,
    );
    expect(await post(body, slackSigned('wrong-secret', body))).toEqual({
      status: 401,
      body: { text: 'X-Slack-Signature does not match the signing secret' },
    });
    const sixMinutesAgo = Math.floor(Date.now() / 1000) - 360;
    expect(await post(body, slackSigned(SIGNING_SECRET, body, sixMinutesAgo))).toEqual({
      status: 401,
      body: { text: 'X-Slack-Request-Timestamp is more than 5 minutes from now' },
    });
    const mallory = slackInteractionBody(
      'U0MALLORY',
      'approve',
      'agents/apr-m1x2k3abc',
      `${responder.url}/respond`,
    );
    expect(await post(mallory, slackSigned(SIGNING_SECRET, mallory))).toEqual({
      status: 200,
      body: {
        text: 'Slack user U0MALLORY is not mapped to a Kubernetes user in channel "dba-slack"; nothing was decided',
      },
    });
    expect(decisions).toEqual([]);
    expect(results).toEqual(['bad-signature', 'stale', 'unmapped']);
    await vi.waitFor(() => expect(responder.received).toHaveLength(1));
    expect(JSON.parse(responder.received[0]?.body ?? '')).toMatchObject({
      response_type: 'ephemeral',
      replace_original: false,
    });
  });
});
