import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestPki, type TestPki } from '@pgwarden/e2e';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnswerTooLarge, requestOperator } from '../../src/grant/operator-request.js';

// The one HTTPS exchange the grant client and the remote approvals share, against a real TLS server.

describe('requests to the operator', () => {
  let dir = '';
  let pki: TestPki;
  let server: Server;
  let url: URL;
  const seen: { method?: string; authorization?: string; contentType?: string; body: string }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pgwarden-operator-request-'));
    pki = await createTestPki(dir);
    server = createServer({ cert: pki.certPem, key: pki.keyPem }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({
          method: req.method,
          authorization: req.headers.authorization,
          contentType: req.headers['content-type'],
          body: Buffer.concat(chunks).toString(),
        });
        if (req.url === '/huge') res.writeHead(200).end(Buffer.alloc(64 * 1024, 'x'));
        else if (req.url === '/silent') return;
        else res.writeHead(429, { 'retry-after': '3' }).end('{"error":"slow down"}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  const base = () => ({
    method: 'POST',
    caPem: pki.caPem,
    token: 'tok',
    timeoutMs: 5_000,
    maxAnswerBytes: 1024,
  });

  it('sends the bearer token and JSON, and returns status, body and Retry-After', async () => {
    const answer = await requestOperator({ ...base(), url: new URL('/ask', url), payload: '{"a":1}' });
    expect(answer).toEqual({ status: 429, text: '{"error":"slow down"}', retryAfter: '3' });
    expect(seen.at(-1)).toEqual({
      method: 'POST',
      authorization: 'Bearer tok',
      contentType: 'application/json',
      body: '{"a":1}',
    });
    await requestOperator({ ...base(), method: 'GET', url: new URL('/wait', url) });
    expect(seen.at(-1)).toMatchObject({ method: 'GET', contentType: undefined, body: '' });
  });

  it('refuses an answer past its bound, a server it does not trust, and one that does not answer in time', async () => {
    await expect(requestOperator({ ...base(), url: new URL('/huge', url) })).rejects.toThrow(
      new AnswerTooLarge('the answer exceeds 1024 bytes'),
    );
    await expect(requestOperator({ ...base(), caPem: pki.wrongCaPem, url })).rejects.toMatchObject({
      code: expect.stringMatching(/CERT|SIGNATURE|SELF_SIGNED|UNABLE/),
    });
    await expect(
      requestOperator({ ...base(), timeoutMs: 300, url: new URL('/silent', url) }),
    ).rejects.toThrow('no answer within 300 ms');
  });
});
