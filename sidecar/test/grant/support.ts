import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import {
  type CompiledPolicy,
  GRANT_API_PATH,
  type Grant,
  type GrantRefusal,
  type GrantRequest,
  GrantRequestSchema,
  validatePolicy,
} from '@pgwarden/crds';
import type { PostgresCluster, TestPki } from '@pgwarden/e2e';
import type pg from 'pg';
import type { DestinationStream } from 'pino';
import type { Counter } from 'prom-client';
import { loadProxyConfig, type ProxyOptions } from '../../src/config/proxy-config.js';
import { compilePolicy } from '../../src/decide/compile.js';
import { createLogger } from '../../src/observe/log.js';
import { type RunningProxy, startProxy } from '../../src/proxy/server.js';
import { pgClient } from '../integration/helpers.js';

/** A policy document as the operator would compile it (the standalone schema: no connectionRef needed). */
export function compiled(spec: Record<string, unknown>, name = 'agent-policy'): CompiledPolicy {
  const result = validatePolicy(
    { apiVersion: 'pgwarden.io/v1alpha1', kind: 'AgentAccessPolicy', metadata: { name }, spec },
    { standalone: true },
  );
  if (!result.ok) throw new Error(`test policy invalid: ${JSON.stringify(result.errors)}`);
  return compilePolicy(result.policy);
}

export interface GrantShape {
  policy: CompiledPolicy;
  /** Lifetime from now (default 10 min) and when to refresh (default half of it). */
  expiresInMs?: number;
  refreshInMs?: number;
  /** The role the credential logs in as (default: the cluster's scram role). */
  credential?: { user: string; password: string };
  /** TLS to the upstream (default: sslMode disable, no CA). */
  tls?: { sslMode: Grant['upstream']['sslMode']; caPem: string | null };
}

/** A grant for `cluster` as the operator would issue it to pod agents/agent-0. */
export function grantFor(cluster: PostgresCluster, shape: GrantShape): Grant {
  const now = Date.now();
  const expiresInMs = shape.expiresInMs ?? 600_000;
  const credential = shape.credential ?? cluster.users.scram;
  const upstream = {
    host: cluster.host,
    port: cluster.port,
    database: cluster.database,
    sslMode: shape.tls?.sslMode ?? 'disable',
    caPem: shape.tls?.caPem ?? null,
    connectTimeoutMs: 5000,
  };
  return {
    apiVersion: 'pgwarden.io/v1alpha1',
    kind: 'Grant',
    id: randomUUID(),
    version: createHash('sha256')
      .update(JSON.stringify([shape.policy.hash, upstream, credential.user]))
      .digest('hex'),
    subject: { namespace: 'agents', pod: 'agent-0', podUid: 'uid-agent-0', serviceAccount: 'coder' },
    policyRef: { namespace: 'agents', name: shape.policy.name },
    policy: shape.policy,
    connectionRef: { namespace: 'agents', name: 'orders-db' },
    upstream,
    credential: { type: 'static', user: credential.user, password: credential.password, validUntil: null },
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + expiresInMs).toISOString(),
    refreshAt: new Date(now + (shape.refreshInMs ?? expiresInMs / 2)).toISOString(),
  };
}

/** What the fake operator answers: a grant, a refusal, or raw bytes. */
export type Answer =
  | { grant: Grant }
  | { status: number; refusal: GrantRefusal; retryAfter?: number }
  | { status: number; raw: string };

export interface SeenRequest {
  authorization: string | undefined;
  body: GrantRequest;
  at: number;
}

interface HeldPoll {
  res: ServerResponse;
  timer: NodeJS.Timeout;
}

/**
 * The operator's grant API as the sidecar sees it (crds/src/grant.ts):
 * POST /v1/grants over HTTPS, long poll on knownVersion. Tests set the answer;
 * held long polls are answered at once when it changes, and `answeredAt`
 * records when the last change was written to them.
 */
export class FakeOperator {
  readonly requests: SeenRequest[] = [];
  /** false: answer every request at once, as an operator without long polling would. */
  longPoll = true;
  /** When setAnswer last wrote its answer to a held long poll (ms since epoch); null when none was held. */
  answeredAt: number | null = null;
  private answer: Answer;
  private readonly held = new Set<HeldPoll>();
  private readonly sockets = new Set<Socket>();
  private server: Server;
  private port = 0;

  private constructor(
    private readonly pki: TestPki,
    initial: Answer,
  ) {
    this.answer = initial;
    this.server = this.createServer();
  }

  static async start(
    pki: TestPki,
    initial: Answer,
    options: { longPoll?: boolean } = {},
  ): Promise<FakeOperator> {
    const operator = new FakeOperator(pki, initial);
    operator.longPoll = options.longPoll ?? true;
    await operator.listen();
    return operator;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}/v1/grants`;
  }

  /** Changes the answer; held long polls get it now (a revocation or a new version). */
  setAnswer(answer: Answer): void {
    this.answer = answer;
    if (this.held.size > 0) this.answeredAt = Date.now();
    for (const poll of [...this.held]) this.release(poll);
  }

  /** Unreachable: stops listening and drops every connection (held polls included). */
  async down(): Promise<void> {
    for (const poll of this.held) clearTimeout(poll.timer);
    this.held.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** Reachable again on the same port. */
  async up(): Promise<void> {
    this.server = this.createServer();
    await this.listen(this.port);
  }

  async close(): Promise<void> {
    await this.down();
  }

  private createServer(): Server {
    const server = createServer({ cert: this.pki.certPem, key: this.pki.keyPem }, (req, res) =>
      this.handle(req, res),
    );
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    return server;
  }

  private listen(port = 0): Promise<void> {
    return new Promise((resolve) =>
      this.server.listen(port, '127.0.0.1', () => {
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      }),
    );
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== GRANT_API_PATH) {
        res.writeHead(404).end();
        return;
      }
      const parsed = GrantRequestSchema.safeParse(JSON.parse(Buffer.concat(chunks).toString() || '{}'));
      if (!parsed.success) {
        res.writeHead(400).end(parsed.error.message);
        return;
      }
      const body = parsed.data;
      this.requests.push({ authorization: req.headers.authorization, body, at: Date.now() });
      const current = this.answer;
      const unchanged = 'grant' in current && current.grant.version === body.knownVersion;
      if (this.longPoll && body.waitSeconds > 0 && unchanged) {
        const poll: HeldPoll = {
          res,
          timer: setTimeout(() => this.release(poll), body.waitSeconds * 1000),
        };
        this.held.add(poll);
        res.once('close', () => {
          clearTimeout(poll.timer);
          this.held.delete(poll);
        });
        return;
      }
      write(res, current);
    });
  }

  private release(poll: HeldPoll): void {
    clearTimeout(poll.timer);
    this.held.delete(poll);
    write(poll.res, this.answer);
  }
}

function write(res: ServerResponse, answer: Answer): void {
  if ('grant' in answer) {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer.grant));
  } else if ('refusal' in answer) {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (answer.retryAfter !== undefined) headers['retry-after'] = String(answer.retryAfter);
    res.writeHead(answer.status, headers).end(JSON.stringify(answer.refusal));
  } else {
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.raw);
  }
}

export interface GrantProxyOptions {
  operator: FakeOperator;
  tokenFile: string;
  caFile: string;
  spoolDir?: string;
  approvalDir?: string;
  logDestination?: DestinationStream;
}

/** The proxy in grant mode in this process; it does not wait for the grant (readiness does). */
export async function startGrantProxy(options: GrantProxyOptions): Promise<RunningProxy & { url: string }> {
  const config = loadProxyConfig({
    listen: '127.0.0.1:0',
    adminListen: '127.0.0.1:0',
    grantUrl: options.operator.url,
    tokenFile: options.tokenFile,
    grantCaFile: options.caFile,
    podName: 'agent-0',
    podNamespace: 'agents',
    ...(options.spoolDir ? { spoolDir: options.spoolDir } : {}),
    ...(options.approvalDir ? { approvalDir: options.approvalDir, approvalListen: '127.0.0.1:0' } : {}),
    logLevel: (process.env.PGWARDEN_TEST_LOG ?? 'silent') as ProxyOptions['logLevel'],
  });
  const proxy = await startProxy(config, createLogger(config.logLevel, options.logDestination ?? 2));
  return { ...proxy, url: `postgresql://agent@127.0.0.1:${proxy.address.port}/app` };
}

/** GET /readyz on the proxy's admin port: true when it answers 200. */
export async function isReady(proxy: RunningProxy): Promise<boolean> {
  const admin = proxy.adminAddress as AddressInfo;
  const res = await fetch(`http://127.0.0.1:${admin.port}/readyz`);
  return res.status === 200;
}

/** The error a connection attempt through the proxy fails with. */
export async function connectError(url: string): Promise<pg.DatabaseError> {
  try {
    const client = await pgClient(url);
    await client.end();
  } catch (err) {
    return err as pg.DatabaseError;
  }
  throw new Error('the connection was accepted');
}

/** Resolves with the error the proxy ends an open client session with. */
export function endedWith(client: pg.Client): Promise<{ error: pg.DatabaseError; at: number }> {
  return new Promise((resolve) =>
    client.on('error', (error) => resolve({ error: error as pg.DatabaseError, at: Date.now() })),
  );
}

export function counter(p: RunningProxy, name: string): Counter<string> {
  return p.metrics.registry.getSingleMetric(name) as Counter<string>;
}
