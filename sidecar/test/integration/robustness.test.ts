import type { Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { usePostgres } from '@pgwarden/e2e';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestProxy, type TestProxy, useProxy } from '../support/proxy.js';
import {
  type BackendMessage,
  ClientPool,
  counterValue,
  errorFields,
  frontendMessage,
  queryMessage,
  RawConnection,
  startupMessage,
  waitFor,
} from './helpers.js';

// Misbehaving clients lose their own connection with a FATAL 08P01 and nothing
// else: a healthy client on the same proxy keeps working throughout. Big
// results stream with backpressure instead of piling up in the proxy.

const cluster = usePostgres();
const proxy = useProxy(cluster, { maxMessageSize: '1MiB' });
const pool = new ClientPool();
afterAll(() => pool.endAll());

/** A healthy session that runs queries the whole time the bad ones are being sent. */
let healthy: pg.Client;
let healthyRuns = 0;
let healthyFailure: unknown = null;
let stopHealthy = false;
let healthyLoop: Promise<void>;
beforeAll(async () => {
  healthy = await pool.pg(proxy().url());
  healthyLoop = (async () => {
    while (!stopHealthy) {
      try {
        const r = await healthy.query('select $1::int + 1 as next, pg_sleep(0.005) is not null as slept', [
          healthyRuns,
        ]);
        if (r.rows[0].next !== healthyRuns + 1) throw new Error(`wrong answer ${JSON.stringify(r.rows)}`);
        healthyRuns++;
      } catch (err) {
        healthyFailure = err;
        return;
      }
    }
  })();
});
afterAll(async () => {
  stopHealthy = true;
  await healthyLoop;
});

/** Asserts the healthy session is still fine and has made progress since `since`. */
async function expectHealthyProgress(since: number): Promise<void> {
  await waitFor(
    'the healthy session to make progress',
    () => healthyRuns > since + 2 || healthyFailure !== null,
    5000,
  );
  expect(healthyFailure).toBeNull();
}

/** The ErrorResponse among `messages`, decoded. */
function fatalOf(messages: BackendMessage[]): Record<string, string> {
  const errors = messages.filter((m) => m.code === 'E');
  expect(errors).toHaveLength(1);
  return errorFields((errors[0] as BackendMessage).body);
}

/** Opens a session, sends `bytes` after ReadyForQuery and returns what comes back until the proxy closes. */
async function afterStartup(bytes: Buffer): Promise<BackendMessage[]> {
  const raw = await RawConnection.open(proxy().port);
  try {
    const startup = await raw.startup();
    expect(startup.at(-1)?.code).toBe('Z');
    raw.write(bytes);
    return await raw.drainUntilClosed(5000);
  } finally {
    raw.destroy();
  }
}

/** Sends `bytes` as the very first thing on a new connection. */
async function asFirstBytes(bytes: Buffer): Promise<BackendMessage[]> {
  const raw = await RawConnection.open(proxy().port);
  try {
    raw.write(bytes);
    return await raw.drainUntilClosed(5000);
  } finally {
    raw.destroy();
  }
}

describe('malformed client input', () => {
  const cases: [string, () => Buffer][] = [
    ['an unknown message type', () => frontendMessage('z', 'whatever')],
    ['a backend-only message type (ReadyForQuery)', () => frontendMessage('Z', 'I')],
    [
      'a length below 4',
      () => {
        const b = Buffer.from('Q\0\0\0\x03', 'latin1');
        return b;
      },
    ],
    [
      'a Query declared larger than --max-message-size (body never sent)',
      () => {
        const header = Buffer.alloc(5);
        header[0] = 0x51;
        header.writeUInt32BE(2 * 1024 * 1024, 1);
        return Buffer.concat([header, Buffer.from('select 1')]);
      },
    ],
    [
      'a valid query followed by garbage in the same write',
      () => Buffer.concat([queryMessage('select 1'), Buffer.from([0xff, 0, 0, 0, 4])]),
    ],
  ];

  for (const [name, bytes] of cases) {
    it(`${name}: FATAL 08P01 and the connection closes; other sessions carry on`, async () => {
      const since = healthyRuns;
      const malformedBefore = await counterValue(proxy().metrics.protocolErrors, {});
      const messages = await afterStartup(bytes());
      const fatal = fatalOf(messages);
      expect(fatal).toMatchObject({ S: 'FATAL', V: 'FATAL', C: '08P01' });
      expect(fatal.M).toMatch(/^pgwarden: /);
      expect(messages.at(-1)?.code).toBe('E');
      await expectHealthyProgress(since);
      expect(await counterValue(proxy().metrics.protocolErrors, {})).toBeGreaterThanOrEqual(
        malformedBefore + 1,
      );
    });
  }

  it('the oversize error names the sizes and the option to raise', async () => {
    const header = Buffer.alloc(5);
    header[0] = 0x50; // Parse
    header.writeUInt32BE(1024 * 1024 + 10, 1);
    const fatal = fatalOf(await afterStartup(header));
    expect(fatal.C).toBe('08P01');
    expect(fatal.M).toBe('pgwarden: P message of 1048587 bytes exceeds the limit of 1048576 bytes');
    expect(fatal.H).toMatch(/--max-message-size/);
  });

  it('a message just under the limit passes', async () => {
    const client = await pool.pg(proxy().url());
    const value = 'x'.repeat(1024 * 1024 - 200);
    const r = await client.query('select length($1::text) as n', [value]);
    expect(r.rows).toEqual([{ n: value.length }]);
  });

  const startupCases: [string, Buffer][] = [
    ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')],
    [
      'a TLS ClientHello',
      Buffer.from('160301020001000200030300000000000000000000000000000000000000000000', 'hex'),
    ],
    ['a startup length below 8', Buffer.from([0, 0, 0, 4, 0, 3, 0, 0])],
    ['a startup length above 10000', Buffer.from([0, 0, 0x27, 0x11, 0, 3, 0, 0])],
    ['protocol version 1.0', startupMessage({ user: 'agent' }, 0x0001_0000)],
    [
      'a startup packet without its terminator',
      Buffer.concat([Buffer.from([0, 0, 0, 14, 0, 3, 0, 0]), Buffer.from('user\0x')]),
    ],
    ['a CancelRequest of the wrong length', Buffer.from([0, 0, 0, 12, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1])],
  ];
  for (const [name, bytes] of startupCases) {
    it(`${name} instead of a startup packet: FATAL 08P01, connection closed`, async () => {
      const since = healthyRuns;
      const fatal = fatalOf(await asFirstBytes(bytes));
      expect(fatal).toMatchObject({ S: 'FATAL', C: '08P01' });
      expect(fatal.M).toMatch(/^pgwarden: protocol violation: /);
      await expectHealthyProgress(since);
    });
  }

  it('random garbage after startup never takes the proxy down (seeded, 60 connections)', async () => {
    const since = healthyRuns;
    let seed = 0x9e3779b9;
    const random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    const outcomes = { fatal08P01: 0, other: 0 };
    for (let i = 0; i < 60; i++) {
      const bytes = Buffer.alloc(1 + Math.floor(random() * 64));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
      const raw = await RawConnection.open(proxy().port);
      try {
        await raw.startup();
        raw.write(bytes);
        // Garbage that looks like the start of a long message makes the proxy wait for the rest: hang up.
        raw.socket.end();
        const messages = await raw.drainUntilClosed(5000);
        const error = messages.find((m) => m.code === 'E');
        if (error && errorFields(error.body).C === '08P01') outcomes.fatal08P01++;
        else outcomes.other++;
      } finally {
        raw.destroy();
      }
    }
    expect(outcomes.fatal08P01).toBeGreaterThan(30);
    await expectHealthyProgress(since);
    const fresh = await pool.pg(proxy().url());
    expect((await fresh.query('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
  });

  it('clients that vanish mid-message or mid-startup leave nothing behind', async () => {
    const since = healthyRuns;
    const activeBefore = (await proxy().metrics.connectionsActive.get()).values[0]?.value ?? 0;
    for (const bytes of [
      Buffer.from([0, 0, 0]), // half a startup length
      startupMessage({ user: 'agent' }).subarray(0, 10),
    ]) {
      const raw = await RawConnection.open(proxy().port);
      raw.write(bytes);
      raw.destroy();
    }
    const raw = await RawConnection.open(proxy().port);
    await raw.startup();
    raw.write(queryMessage('select 1').subarray(0, 7));
    raw.destroy();
    await expectHealthyProgress(since);
    await waitFor('the dropped sessions to be released', async () => {
      return ((await proxy().metrics.connectionsActive.get()).values[0]?.value ?? 0) === activeBefore;
    });
  });
});

describe('connection limit', () => {
  let limited: TestProxy;
  const clients = new ClientPool();
  beforeAll(async () => {
    limited = await startTestProxy(cluster(), { maxConnections: 2 });
  });
  afterEach(() => clients.endAll());
  afterAll(() => limited?.drain(1000));

  it('the third client gets 53300; a slot frees when a client leaves', async () => {
    const config = { application_name: 'limit-test' };
    const first = await clients.pg(limited.url(), config);
    await clients.pg(limited.url(), config);
    let error: pg.DatabaseError | null = null;
    try {
      await clients.pg(limited.url(), config);
    } catch (err) {
      error = err as pg.DatabaseError;
    }
    expect(error?.severity).toBe('FATAL');
    expect(error?.code).toBe('53300');
    expect(error?.message).toBe('pgwarden: too many client connections (limit 2)');
    // The refused client never got an upstream session.
    expect(
      await cluster().psql("select count(*) from pg_stat_activity where application_name = 'limit-test'"),
    ).toBe('2');
    expect(await counterValue(limited.metrics.connectionsTotal, { outcome: 'refused' })).toBe(1);

    await first.end();
    await waitFor(
      'the slot to free',
      async () => ((await limited.metrics.connectionsActive.get()).values[0]?.value ?? 0) === 1,
    );
    const third = await clients.pg(limited.url(), config);
    expect((await third.query('select 3 as n')).rows).toEqual([{ n: 3 }]);
  });
});

/** A full garbage collection on demand (the flag can be set at run time; `gc` then exists in new contexts). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('streaming a large result to a slow client', () => {
  /**
   * Reads a simple-query result over a raw socket at a fixed rate, counting
   * messages without keeping them. Returns when ReadyForQuery arrives.
   */
  function slowRead(socket: Socket, bytesPerSecond: number, onProgress: (bytes: number) => void) {
    return new Promise<{ dataRows: number; bytes: number; complete: string; ready: boolean }>(
      (resolve, reject) => {
        let bytes = 0;
        let dataRows = 0;
        let complete = '';
        // Header parsing across chunk boundaries: position within the current message.
        let header = Buffer.alloc(0);
        let remaining = 0;
        let code = 0;
        let body: Buffer[] = [];
        const started = Date.now();
        socket.on('error', reject);
        socket.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          onProgress(bytes);
          let pos = 0;
          while (pos < chunk.length) {
            if (remaining === 0) {
              const need = 5 - header.length;
              header = Buffer.concat([header, chunk.subarray(pos, pos + need)]);
              pos += Math.min(need, chunk.length - pos);
              if (header.length < 5) break;
              code = header[0] as number;
              remaining = header.readUInt32BE(1) - 4;
              header = Buffer.alloc(0);
              body = [];
              if (code === 0x44) dataRows++;
            }
            const take = Math.min(remaining, chunk.length - pos);
            if (code !== 0x44) body.push(chunk.subarray(pos, pos + take));
            pos += take;
            remaining -= take;
            if (remaining === 0 && code === 0x43)
              complete = Buffer.concat(body).toString('utf8').replace(/\0$/, '');
            if (remaining === 0 && code === 0x5a) {
              socket.removeAllListeners('data');
              resolve({ dataRows, bytes, complete, ready: true });
              return;
            }
          }
          // Throttle: stop reading until the elapsed time matches the target rate.
          const due = started + (bytes / bytesPerSecond) * 1000;
          const wait = due - Date.now();
          if (wait > 0) {
            socket.pause();
            setTimeout(() => socket.resume(), wait);
          }
        });
      },
    );
  }

  it('~200 MB through a client reading at 40 MB/s: upstream waits, proxy memory stays flat', async () => {
    const rows = 200_000;
    const sql = `select repeat('x', 1000) from generate_series(1, ${rows}) /* stream */`;
    const raw = await RawConnection.open(proxy().port);
    await raw.startup();
    raw.socket.removeAllListeners('data');

    // The proxy runs in this process. Live memory (after a full GC) is what would grow if the proxy
    // buffered the result; RSS also counts garbage not yet collected.
    const gc = collector();
    gc();
    const baseline = process.memoryUsage();
    let peakRss = baseline.rss;
    let peakLive = baseline.arrayBuffers + baseline.heapUsed;
    const sampler = setInterval(() => {
      gc();
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakLive = Math.max(peakLive, m.arrayBuffers + m.heapUsed);
    }, 50);

    // Where the upstream query stands when the client has read half of the result.
    let halfwayState: Promise<string> | null = null;
    const total = rows * 1011;
    raw.socket.write(queryMessage(sql));
    const result = await slowRead(raw.socket, 40 * 1024 * 1024, (bytes) => {
      if (!halfwayState && bytes > total / 2) {
        halfwayState = cluster().psql(
          `select coalesce(state || '/' || coalesce(wait_event, ''), 'gone') from pg_stat_activity where query like '%/* stream */' and pid <> pg_backend_pid()`,
        );
      }
    }).finally(() => clearInterval(sampler));
    raw.destroy();

    expect(result).toMatchObject({ dataRows: rows, complete: `SELECT ${rows}`, ready: true });
    expect(result.bytes).toBeGreaterThan(200_000_000);
    // Backpressure reached the server: half-way through the client's reading, the query was still
    // running (waiting in ClientWrite as a rule); without backpressure it would long be done.
    expect(await halfwayState).toMatch(/^active\//);
    const mib = (n: number) => Math.round(n / 1024 / 1024);
    expect(
      mib(peakLive - baseline.arrayBuffers - baseline.heapUsed),
      'live heap + buffers growth, MiB',
    ).toBeLessThan(32);
    expect(mib(peakRss - baseline.rss), 'RSS growth, MiB').toBeLessThan(100);
  }, 60_000);
});
