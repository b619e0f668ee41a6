import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ApprovalRecord, type ApprovalRequest, pendingStatus } from '@pgwarden/crds';
import { createTestPki, freePort, type TestPki } from '@pgwarden/e2e';
import pino from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApprovalUsed } from '../../src/approve/approval-service.js';
import { ApprovalApiFailed, RemoteApprovals } from '../../src/approve/remote-approvals.js';

// The sidecar's client of the operator's approval API against a fake operator
// over real HTTPS (a test CA): what it sends, how it reads the answers, and
// how refusals and an unreachable operator surface. approval-flow.test.ts in
// the operator runs it against the real operator.

let pki: TestPki;
let dir: string;
let server: Server | undefined;
const seen: { method: string; url: string; authorization: string | undefined; body: unknown }[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgwarden-remote-approvals-'));
  pki = await createTestPki(join(dir, 'pki'));
  await writeFile(join(dir, 'token'), 'token-1\n');
});
afterEach(async () => {
  seen.length = 0;
  const closing = server;
  server = undefined;
  if (closing) await new Promise((resolve) => closing.close(resolve));
});

const request: ApprovalRequest = {
  statement: {
    protocol: 'simple',
    text: 'DELETE FROM t',
    parameters: [],
    digest: 'ab'.repeat(32),
    fingerprint: '0123456789abcdef',
  },
  requester: {
    clientAddress: '127.0.0.1:1',
    clientUser: 'agent',
    session: 's-1',
    namespace: null,
    pod: null,
    serviceAccount: null,
  },
  policy: { name: 'analytics', hash: 'cd'.repeat(32), rule: 'deletes', message: '' },
  approvers: { users: [], groups: [] },
  requiredApprovals: 1,
  scope: { type: 'once', durationMs: null },
  createdAt: new Date().toISOString(),
  expiresAt: new Date(Date.now() + 60_000).toISOString(),
};
const record = (phase: ApprovalRecord['status']['phase']): ApprovalRecord => ({
  id: 'apr-test123456',
  request,
  status: { ...pendingStatus(), phase },
});

/** A fake operator answering each call with `answer(method, path)`. */
async function operator(answer: (method: string, path: string) => { status: number; body?: unknown }) {
  server = createServer({ cert: pki.certPem, key: pki.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        body: text ? JSON.parse(text) : null,
      });
      const { status, body } = answer(req.method ?? '', req.url ?? '');
      res
        .writeHead(status, { 'content-type': 'application/json' })
        .end(body === undefined ? undefined : JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return client(`https://127.0.0.1:${port}`);
}

const client = (origin: string) =>
  new RemoteApprovals(
    { origin: new URL(origin), caPem: pki.caPem, tokenFile: join(dir, 'token') },
    pino({ level: 'silent' }),
  );

describe('RemoteApprovals', () => {
  it('asks with the statement, policy and session only, with the token, and reads the record', async () => {
    const remote = await operator(() => ({ status: 201, body: record('Pending') }));
    expect(remote.covering()).toBeNull();
    expect(await remote.request(request)).toEqual(record('Pending'));
    expect(seen).toEqual([
      {
        method: 'POST',
        url: '/v1/approvals',
        authorization: 'Bearer token-1',
        body: {
          statement: request.statement,
          policy: request.policy,
          session: 's-1',
          clientAddress: '127.0.0.1:1',
          clientUser: 'agent',
        },
      },
    ]);
  });

  it('long-polls until decided; a pending answer that comes early is asked again after a pause', async () => {
    let calls = 0;
    const remote = await operator(() => ({
      status: 200,
      body: record(++calls < 3 ? 'Pending' : 'Approved'),
    }));
    const started = performance.now();
    expect((await remote.wait('apr-test123456', 10_000)).status.phase).toBe('Approved');
    process.stdout.write(
      `remote approvals: 3 polls answered at once took ${(performance.now() - started).toFixed(0)} ms\n`,
    );
    expect(seen.map((s) => s.url)).toHaveLength(3);
    expect(seen[0]?.url).toMatch(/^\/v1\/approvals\/apr-test123456\?waitSeconds=(9|10)(\.\d+)?$/);
  });

  it('an operator that answers 503 or not at all while one asks or waits is asked again until the limit', async () => {
    let calls = 0;
    const remote = await operator(() => {
      calls += 1;
      if (calls === 1)
        return { status: 503, body: { error: 'the operator could not reach the API server; retry shortly' } };
      return { status: 200, body: record(calls < 3 ? 'Pending' : 'Denied') };
    });
    expect((await remote.wait('apr-test123456', 10_000)).status.phase).toBe('Denied');
    expect(calls).toBe(3);
    // An ask is repeated too (the operator answers it with the request it already made).
    calls = 0;
    expect((await remote.request(request)).status.phase).toBe('Pending');
    expect(seen.filter((s) => s.method === 'POST')).toHaveLength(2);
    const nobody = client(`https://127.0.0.1:${await freePort()}`);
    await expect(nobody.wait('apr-test123456', 600)).rejects.toThrow(/unreachable \(ECONNREFUSED\)/);
  });

  it('a run refused as used up is ApprovalUsed; other refusals carry the operator’s message; an unreachable operator says so', async () => {
    const remote = await operator((method) =>
      method === 'POST'
        ? {
            status: 409,
            body: { error: 'approval apr-test123456 was already used to run the statement once' },
          }
        : { status: 403, body: { error: 'AgentAccessPolicy agents/analytics has no spec.approval' } },
    );
    await expect(remote.use('apr-test123456', 's-1')).rejects.toBeInstanceOf(ApprovalUsed);
    await expect(remote.wait('apr-test123456', 1000)).rejects.toThrow(
      new ApprovalApiFailed(403, 'AgentAccessPolicy agents/analytics has no spec.approval'),
    );
    const nobody = client(`https://127.0.0.1:${await freePort()}`);
    await expect(nobody.request(request)).rejects.toThrow(
      /^the operator's approval API is unreachable \(ECONNREFUSED\)$/,
    );
  });
});
