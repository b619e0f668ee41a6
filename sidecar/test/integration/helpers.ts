import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { type PostgresCluster, type RunResult, run } from '@pgwarden/e2e';
import pg from 'pg';
import type { Counter } from 'prom-client';

/** Environment for client processes: no inherited PG* variable may redirect or reconfigure them. */
export function libpqEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const cleared = Object.fromEntries(
    Object.keys(process.env)
      .filter((name) => name.startsWith('PG'))
      .map((name) => [name, undefined]),
  );
  return { ...cleared, ...extra };
}

/** The cluster's own psql (-X: no ~/.psqlrc; ON_ERROR_STOP so a failed statement fails the run). */
export function psql(
  cluster: PostgresCluster,
  url: string,
  args: string[],
  options: { input?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
  return run(cluster.binPath('psql'), ['-X', '-v', 'ON_ERROR_STOP=1', '-d', url, ...args], {
    env: libpqEnv(),
    ...options,
  });
}

/** A pino destination that keeps every log line in memory. */
export class LogCapture extends Writable {
  private readonly chunks: string[] = [];

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(chunk.toString());
    callback();
  }

  get text(): string {
    return this.chunks.join('');
  }

  /** Parsed JSON log events. */
  get events(): Record<string, unknown>[] {
    return this.text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

/** Sum of a prom-client counter over the series matching `labels` (all series when empty; 0 when none). */
export async function counterValue(
  counter: Counter<string>,
  labels: Record<string, string> = {},
): Promise<number> {
  const { values } = await counter.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))
    .reduce((sum, v) => sum + v.value, 0);
}

/** A connected node-postgres client; `end()` it, or collect it with {@link ClientPool}. */
export async function pgClient(
  connectionString: string,
  config: Omit<pg.ClientConfig, 'connectionString'> = {},
): Promise<pg.Client> {
  const client = new pg.Client({ connectionString, ...config });
  await client.connect();
  return client;
}

/** Clients opened by one test, closed together in afterEach whatever the test did. */
export class ClientPool {
  private readonly clients = new Set<{ end(): Promise<unknown> }>();

  add<T extends { end(): Promise<unknown> }>(client: T): T {
    this.clients.add(client);
    return client;
  }

  async pg(
    connectionString: string,
    config: Omit<pg.ClientConfig, 'connectionString'> = {},
  ): Promise<pg.Client> {
    const client = new pg.Client({ connectionString, ...config });
    // A client killed by the server or the proxy emits 'error'; the test looks at it, not the process.
    client.on('error', () => {});
    this.add(client);
    await client.connect();
    return client;
  }

  async endAll(): Promise<void> {
    const all = [...this.clients];
    this.clients.clear();
    await Promise.all(all.map((c) => c.end().catch(() => undefined)));
  }
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Resolves `promise` or rejects after `ms` with `what` in the message. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** What a value is once it has tested truthy. */
type Truthy<T> = Exclude<T, null | undefined | false | 0 | 0n | ''>;

/** Polls `check` until it returns a truthy value or the time runs out. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T> | T,
  timeoutMs = 10_000,
  intervalMs = 25,
): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as Truthy<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Runs SQL on the cluster as the superuser over the unix socket and returns the single value. */
export async function scalar(cluster: PostgresCluster, sql: string): Promise<string> {
  return (await cluster.psql(sql)).trim();
}

// ---------------------------------------------------------------------------
// A raw protocol-v3 client, for what no driver will send.

export interface BackendMessage {
  code: string;
  /** The body, after the 5-byte header. */
  body: Buffer;
}

/** Decodes an ErrorResponse/NoticeResponse body into its fields (S, V, C, M, D, H, P…). */
export function errorFields(body: Buffer): Record<string, string> {
  const fields: Record<string, string> = {};
  let pos = 0;
  while (pos < body.length && body[pos] !== 0) {
    const type = String.fromCharCode(body[pos] as number);
    const nul = body.indexOf(0, pos + 1);
    if (nul < 0) break;
    fields[type] = body.toString('utf8', pos + 1, nul);
    pos = nul + 1;
  }
  return fields;
}

export function startupMessage(params: Record<string, string>, version = 0x0003_0000): Buffer {
  const parts = [Buffer.alloc(8)];
  for (const [k, v] of Object.entries(params)) parts.push(Buffer.from(`${k}\0${v}\0`));
  parts.push(Buffer.from([0]));
  const packet = Buffer.concat(parts);
  packet.writeUInt32BE(packet.length, 0);
  packet.writeUInt32BE(version, 4);
  return packet;
}

/** A tagged frontend message: code, length, body. */
export function frontendMessage(code: string, body: Buffer | string = Buffer.alloc(0)): Buffer {
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  const header = Buffer.alloc(5);
  header[0] = code.charCodeAt(0);
  header.writeUInt32BE(payload.length + 4, 1);
  return Buffer.concat([header, payload]);
}

export function queryMessage(sql: string): Buffer {
  return frontendMessage('Q', `${sql}\0`);
}

/**
 * A socket speaking the backend side of the protocol to us: messages are parsed
 * as they arrive; `next()` awaits the next one, `closed` settles when the peer closes.
 */
export class RawConnection {
  readonly closed: Promise<void>;
  private buffer = Buffer.alloc(0);
  private readonly queue: BackendMessage[] = [];
  private waiter: (() => void) | null = null;
  private ended = false;
  /** Bytes of untagged single-byte answers (SSLRequest / GSSENCRequest) still expected. */
  private pendingByteAnswers = 0;
  readonly byteAnswers: string[] = [];

  private constructor(readonly socket: Socket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.parse();
    });
    socket.on('error', () => {});
    socket.once('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
    });
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Sends an SSLRequest or GSSENCRequest and awaits the one-byte answer. */
  async encryptionRequest(kind: 'ssl' | 'gssenc'): Promise<string> {
    const packet = Buffer.alloc(8);
    packet.writeUInt32BE(8, 0);
    packet.writeUInt32BE(kind === 'ssl' ? 80877103 : 80877104, 4);
    this.pendingByteAnswers++;
    const before = this.byteAnswers.length;
    this.write(packet);
    await waitFor(
      'the answer to an encryption request',
      () => this.byteAnswers.length > before || this.ended,
      5000,
      5,
    );
    const answer = this.byteAnswers[before];
    if (answer === undefined) throw new Error('connection closed before answering the encryption request');
    return answer;
  }

  /** StartupMessage, then every message up to and including the first ReadyForQuery (or an ErrorResponse). */
  async startup(
    params: Record<string, string> = { user: 'agent', database: 'app' },
    version?: number,
  ): Promise<BackendMessage[]> {
    this.write(startupMessage(params, version));
    const seen: BackendMessage[] = [];
    for (;;) {
      const m = await this.next();
      if (!m) throw new Error(`connection closed during startup after ${seen.map((s) => s.code).join('')}`);
      seen.push(m);
      if (m.code === 'Z' || m.code === 'E') return seen;
    }
  }

  /** The next message, or null once the connection is closed and nothing is left. */
  async next(timeoutMs = 10_000): Promise<BackendMessage | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.queue.shift();
      if (m) return m;
      if (this.ended) return null;
      if (Date.now() > deadline) throw new Error(`no message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Every message until the peer closes the connection. */
  async drainUntilClosed(timeoutMs = 10_000): Promise<BackendMessage[]> {
    const out: BackendMessage[] = [];
    for (;;) {
      const m = await this.next(timeoutMs);
      if (!m) return out;
      out.push(m);
    }
  }

  /** Messages up to and including the next ReadyForQuery. */
  async untilReady(timeoutMs = 10_000): Promise<BackendMessage[]> {
    const out: BackendMessage[] = [];
    for (;;) {
      const m = await this.next(timeoutMs);
      if (!m)
        throw new Error(`connection closed before ReadyForQuery; got ${out.map((s) => s.code).join('')}`);
      out.push(m);
      if (m.code === 'Z') return out;
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  private parse(): void {
    while (this.pendingByteAnswers > 0 && this.buffer.length > 0) {
      this.byteAnswers.push(String.fromCharCode(this.buffer[0] as number));
      this.buffer = this.buffer.subarray(1);
      this.pendingByteAnswers--;
    }
    while (this.buffer.length >= 5) {
      const length = this.buffer.readUInt32BE(1);
      if (this.buffer.length < 1 + length) break;
      this.queue.push({
        code: String.fromCharCode(this.buffer[0] as number),
        body: Buffer.from(this.buffer.subarray(5, 1 + length)),
      });
      this.buffer = this.buffer.subarray(1 + length);
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
}

// Extended-protocol frontend messages, for the raw client.

function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`);
}

function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

export const msg = {
  parse: (name: string, sql: string, paramTypes: number[] = []) =>
    frontendMessage(
      'P',
      Buffer.concat([cstr(name), cstr(sql), int16(paramTypes.length), ...paramTypes.map(int32)]),
    ),
  bind: (
    portal: string,
    statement: string,
    params: (Buffer | null)[] = [],
    paramFormats: number[] = [],
    resultFormats: number[] = [],
  ) =>
    frontendMessage(
      'B',
      Buffer.concat([
        cstr(portal),
        cstr(statement),
        int16(paramFormats.length),
        ...paramFormats.map(int16),
        int16(params.length),
        ...params.flatMap((p) => (p === null ? [int32(-1)] : [int32(p.length), p])),
        int16(resultFormats.length),
        ...resultFormats.map(int16),
      ]),
    ),
  execute: (portal: string, maxRows = 0) =>
    frontendMessage('E', Buffer.concat([cstr(portal), int32(maxRows)])),
  describe: (kind: 'S' | 'P', name: string) =>
    frontendMessage('D', Buffer.concat([Buffer.from(kind), cstr(name)])),
  close: (kind: 'S' | 'P', name: string) =>
    frontendMessage('C', Buffer.concat([Buffer.from(kind), cstr(name)])),
  sync: () => frontendMessage('S'),
  flush: () => frontendMessage('H'),
  terminate: () => frontendMessage('X'),
  copyData: (data: Buffer | string) => frontendMessage('d', data),
  copyDone: () => frontendMessage('c'),
  copyFail: (reason: string) => frontendMessage('f', cstr(reason)),
  functionCall: (oid: number, args: Buffer[], resultFormat = 1) =>
    frontendMessage(
      'F',
      Buffer.concat([
        int32(oid),
        int16(1),
        int16(1), // every argument in binary
        int16(args.length),
        ...args.flatMap((a) => [int32(a.length), a]),
        int16(resultFormat),
      ]),
    ),
};

/** The columns of a DataRow body (null for SQL NULL). */
export function dataRowColumns(body: Buffer): (Buffer | null)[] {
  const n = body.readInt16BE(0);
  const out: (Buffer | null)[] = [];
  let pos = 2;
  for (let i = 0; i < n; i++) {
    const len = body.readInt32BE(pos);
    pos += 4;
    if (len < 0) {
      out.push(null);
    } else {
      out.push(body.subarray(pos, pos + len));
      pos += len;
    }
  }
  return out;
}
