import { connect, createServer, type Server, type Socket } from 'node:net';
import { usePostgres } from '@pgwarden/e2e';
import type pg from 'pg';
import Cursor from 'pg-cursor';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import {
  ClientPool,
  dataRowColumns,
  errorFields,
  msg,
  queryMessage,
  RawConnection,
  waitFor,
  within,
} from './helpers.js';

// Draining in process (what SIGTERM calls): work in flight finishes, whatever
// shape it has (pipelined batches, open portals, a session still being set
// up), and every session is closed with 57P01 once idle.

const cluster = usePostgres();
const pool = new ClientPool();
let proxy: TestProxy;
afterEach(async () => {
  await proxy?.drain(1000);
  await pool.endAll();
});

/** Resolves with the error a client receives outside any query (the proxy closing it). */
function closedWith(client: pg.Client): Promise<pg.DatabaseError> {
  return new Promise((resolve) => client.on('error', (e) => resolve(e as pg.DatabaseError)));
}

const sleeping = (pattern: string) => async () =>
  (await cluster().psql(
    `select count(*) from pg_stat_activity where query like '${pattern}' and state = 'active'`,
  )) !== '0';

describe('drain', () => {
  it('lets a simple in-flight query finish, then closes its session with 57P01', async () => {
    proxy = await startTestProxy(cluster());
    const busy = await pool.pg(proxy.url());
    const closed = closedWith(busy);
    const query = busy.query("select pg_sleep(0.5), 'done' as outcome");
    await waitFor('the query to run', sleeping('select pg_sleep(0.5)%'));
    const started = Date.now();
    await proxy.drain(5000);
    expect(Date.now() - started).toBeLessThan(3000);
    expect((await query).rows).toEqual([{ pg_sleep: '', outcome: 'done' }]);
    expect((await within(2000, 'the close', closed)).code).toBe('57P01');
  });

  it('lets every query of a pipelined batch finish, not just the first', async () => {
    proxy = await startTestProxy(cluster());
    const raw = await RawConnection.open(proxy.port);
    try {
      await raw.startup();
      // All written at once: the later ones are in flight before the first is answered. Each takes a
      // while, so their answers reach the proxy separately.
      raw.write(
        Buffer.concat([
          queryMessage("select pg_sleep(0.5)::text || 'first'"),
          msg.parse('', "select pg_sleep(0.3)::text || 'second'"),
          msg.bind('', ''),
          msg.execute(''),
          msg.sync(),
          queryMessage("select pg_sleep(0.3)::text || 'third'"),
        ]),
      );
      await waitFor('the first query to run', sleeping('select pg_sleep(0.5)%'));
      const draining = proxy.drain(5000);
      const received = await raw.drainUntilClosed(5000);
      await draining;
      const rows = received.filter((m) => m.code === 'D').map((m) => dataRowColumns(m.body)[0]?.toString());
      expect(rows).toEqual(['first', 'second', 'third']);
      expect(received.filter((m) => m.code === 'Z')).toHaveLength(3);
      // Only then is the session closed, with 57P01.
      const last = received.at(-1);
      expect(last?.code).toBe('E');
      expect(errorFields(last?.body ?? Buffer.alloc(0)).C).toBe('57P01');
    } finally {
      raw.destroy();
    }
  });

  it('lets a cursor that is being read (open portal, no Sync yet) finish', async () => {
    proxy = await startTestProxy(cluster());
    const client = await pool.pg(proxy.url());
    const cursor = client.query(new Cursor('select i from generate_series(1, 30) i'));
    const first = await cursor.read(10);
    expect(first).toHaveLength(10);
    const draining = proxy.drain(5000);
    const rest: unknown[] = [];
    let error: unknown = null;
    try {
      for (let batch = await cursor.read(10); batch.length > 0; batch = await cursor.read(10))
        rest.push(...batch);
      await cursor.close();
    } catch (err) {
      error = err;
    }
    expect(error).toBeNull();
    expect(rest).toHaveLength(20);
    await draining;
  });

  it('a session whose upstream handshake is still running when the drain starts does not hold the drain to its deadline', async () => {
    // The upstream is reached through a forwarder that takes 1 s to connect, so each session's
    // handshake takes that long.
    const sockets = new Set<Socket>();
    const slow: Server = createServer((client) => {
      sockets.add(client);
      client.on('error', () => {});
      client.pause();
      setTimeout(() => {
        const server = connect({ host: '127.0.0.1', port: cluster().port });
        sockets.add(server);
        server.on('error', () => {});
        client.pipe(server).pipe(client);
        client.resume();
      }, 1000);
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const url = new URL(cluster().url());
      url.port = String((slow.address() as { port: number }).port);
      proxy = await startTestProxy(cluster(), { upstream: url.toString() });

      const busy = await pool.pg(proxy.url());
      const query = busy.query('select pg_sleep(1.5)');
      await waitFor('the query to run', sleeping('select pg_sleep(1.5)%'));
      // A second client arrives; its handshake is in progress when the drain begins.
      const late = pool.pg(proxy.url()).then(
        (c) => closedWith(c).then((e) => e.code),
        (e: pg.DatabaseError) => e.code,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = Date.now();
      await proxy.drain(8000);
      const took = Date.now() - started;
      await query;
      // The late session is refused or closed with 57P01, and the drain ends with the busy query.
      expect(await within(2000, 'the late client', late)).toBe('57P01');
      expect(took).toBeLessThan(4000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => slow.close(resolve));
    }
  });
});
