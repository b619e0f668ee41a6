import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { usePostgres } from '@pgwarden/e2e';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import Cursor from 'pg-cursor';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useProxy } from '../support/proxy.js';
import { ClientPool, sha256, within } from './helpers.js';

// node-postgres through the proxy gives the same outcomes as against the server:
// every test runs the same operation on a direct and a proxied connection.

const cluster = usePostgres();
const proxy = useProxy(cluster);
const pool = new ClientPool();
afterEach(() => pool.endAll());

const connectDirect = (config: Omit<pg.ClientConfig, 'connectionString'> = {}) =>
  pool.pg(cluster().url(), config);
const connectProxied = (config: Omit<pg.ClientConfig, 'connectionString'> = {}) =>
  pool.pg(proxy().url(), config);

/** Runs `op` on a direct and a proxied client and returns both outcomes. */
async function both<T>(
  op: (client: pg.Client, via: 'direct' | 'proxied') => Promise<T>,
  config: Omit<pg.ClientConfig, 'connectionString'> = {},
) {
  const direct = await op(await connectDirect(config), 'direct');
  const proxied = await op(await connectProxied(config), 'proxied');
  return { direct, proxied };
}

/** What matters of a driver error: everything the server said, not the stack. */
function errorOutcome(err: unknown) {
  const e = err as pg.DatabaseError;
  return {
    severity: e.severity,
    code: e.code,
    message: e.message,
    detail: e.detail,
    hint: e.hint,
    position: e.position,
    schema: e.schema,
    table: e.table,
    column: e.column,
    constraint: e.constraint,
    routine: e.routine,
  };
}

async function outcome<T>(
  promise: Promise<T>,
): Promise<{ ok: T } | { error: ReturnType<typeof errorOutcome> }> {
  try {
    return { ok: await promise };
  } catch (err) {
    return { error: errorOutcome(err) };
  }
}

/** A result without per-connection noise. */
function shape(r: pg.QueryResult) {
  return {
    command: r.command,
    rowCount: r.rowCount,
    fields: r.fields.map((f) => [f.name, f.dataTypeID, f.format]),
    rows: r.rows,
  };
}

beforeAll(async () => {
  await cluster().psql(`
    create table accounts (id int primary key, owner text not null, balance numeric(12,2) not null check (balance >= 0));
    insert into accounts select i, 'owner ' || i, i * 10 from generate_series(1, 100) i;
    create table events (id bigint, kind text, payload jsonb, at timestamptz);
  `);
});

describe('node-postgres through the proxy', () => {
  it('parameterized queries return the same results', async () => {
    const q = {
      text: `select $1::int + $2::int as sum, $3::text as t, $4::jsonb as j, $5::timestamptz as ts,
                    $6::bytea as b, $7::int[] as arr, $8::text is null as was_null, $9::numeric * 2 as n`,
      values: [
        40,
        2,
        'héllo\n"quoted"',
        { a: [1, 2, { b: null }] },
        '2024-02-29T12:34:56.789Z',
        Buffer.from([0, 1, 255]),
        [3, 1, 2],
        null,
        '12345678901234567890.5',
      ],
    };
    const { direct, proxied } = await both((c) => c.query(q));
    expect(shape(proxied)).toEqual(shape(direct));
    expect(proxied.rows[0].sum).toBe(42);
    expect(proxied.rows[0].b).toEqual(Buffer.from([0, 1, 255]));
    expect(proxied.rows[0].n).toBe('24691357802469135781.0');

    const filtered = await both((c) =>
      c.query('select id, owner, balance from accounts where id = any($1) order by id', [[3, 5, 99]]),
    );
    expect(shape(filtered.proxied)).toEqual(shape(filtered.direct));
    expect(filtered.proxied.rows.map((r) => r.id)).toEqual([3, 5, 99]);
  });

  it('passes a 10 MB parameter and a 50 MB value intact', async () => {
    const big = 'é'.repeat(5_000_000); // 10 MB of UTF-8
    const { direct, proxied } = await both(async (c) => {
      const param = await c.query('select length($1::text) as len, md5($1::text) as sum', [big]);
      const value = await c.query(
        "select md5(v) as sum, length(v) as len, v from (select repeat('pgwarden', 6250000) as v) s",
      );
      return { param: param.rows[0], value: { ...value.rows[0], v: sha256(value.rows[0].v) } };
    });
    expect(proxied).toEqual(direct);
    expect(proxied.param.len).toBe(5_000_000);
    expect(proxied.value.len).toBe(50_000_000);
  });

  it('named prepared statements are parsed once and reused', async () => {
    const parsesBefore = proxy().metrics.fromClient.messages[0x50] ?? 0; // 'P'
    const { direct, proxied } = await both(async (c) => {
      const results = [];
      for (let i = 1; i <= 5; i++) {
        results.push(
          (
            await c.query({
              name: 'balance_of',
              text: 'select owner, balance from accounts where id = $1',
              values: [i],
            })
          ).rows,
        );
      }
      const prepared = await c.query(
        "select name, statement, parameter_types::text from pg_prepared_statements where name = 'balance_of'",
      );
      return { results, prepared: prepared.rows };
    });
    expect(proxied).toEqual(direct);
    expect(proxied.results[4]).toEqual([{ owner: 'owner 5', balance: '50.00' }]);
    expect(proxied.prepared).toEqual([
      {
        name: 'balance_of',
        statement: 'select owner, balance from accounts where id = $1',
        parameter_types: '{integer}',
      },
    ]);
    // Five executions through the proxy, one Parse (the parameterless catalog query goes as a simple Query).
    expect((proxy().metrics.fromClient.messages[0x50] ?? 0) - parsesBefore).toBe(1);
  });

  it('binary-format results decode to the same values', async () => {
    // node-postgres decodes every column through a UTF-8 string, so only encodings that survive
    // that are compared here; wire-protocol.test.ts checks binary DataRows byte for byte.
    const text = `select 258::int2 as i2, 7::int4 as i4, 72623859790382856::int8 as i8, 2::float8 as f8, true as b,
                         'héllo'::text as t, $1::int4 as param, $2::text as p2`;
    const { direct, proxied } = await both((c) => c.query({ text, values: [99, 'ünï'] }), { binary: true });
    expect(proxied.fields.map((f) => f.format)).toEqual(Array(8).fill('binary'));
    expect(shape(proxied)).toEqual(shape(direct));
    expect(proxied.rows[0]).toEqual({
      i2: 258,
      i4: 7,
      i8: '72623859790382856',
      f8: 2,
      b: true,
      t: 'héllo',
      param: 99,
      p2: 'ünï',
    });
  });

  it('a 200k-row result arrives complete and identical', async () => {
    const sql =
      "select i, md5(i::text) || repeat('-', i % 40) as t, i % 3 = 0 as flag from generate_series(1, 200000) i";
    const { direct, proxied } = await both(async (c) => {
      const r = await c.query({ text: sql, rowMode: 'array' });
      return { count: r.rowCount, rows: r.rows.length, digest: sha256(JSON.stringify(r.rows)) };
    });
    expect(proxied).toEqual(direct);
    expect(proxied.rows).toBe(200_000);
  });

  it('LISTEN/NOTIFY between two proxied clients', async () => {
    const listener = await connectProxied();
    const notifier = await connectProxied();
    await listener.query('listen "pgwarden chan"');
    const received: pg.Notification[] = [];
    listener.on('notification', (n) => received.push(n));
    const notifierPid = (await notifier.query('select pg_backend_pid() as pid')).rows[0].pid as number;

    await notifier.query('notify "pgwarden chan", \'first\'');
    await notifier.query('select pg_notify($1, $2)', ['pgwarden chan', 'second ✓']);
    // Delivered only on commit, and once per distinct payload.
    await notifier.query('begin');
    await notifier.query('notify "pgwarden chan", \'in tx\'');
    await notifier.query('notify "pgwarden chan", \'in tx\'');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received.map((n) => n.payload)).toEqual(['first', 'second ✓']);
    await notifier.query('commit');

    await within(
      5000,
      'notifications',
      (async () => {
        while (received.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
    );
    expect(received.map((n) => n.payload)).toEqual(['first', 'second ✓', 'in tx']);
    expect(received.every((n) => n.channel === 'pgwarden chan')).toBe(true);
    // The sender's process id is the upstream backend's, as pg_backend_pid() reports it.
    expect(received.every((n) => n.processId === notifierPid)).toBe(true);

    await listener.query('unlisten *');
    await notifier.query('notify "pgwarden chan", \'after unlisten\'');
    await listener.query('select 1');
    expect(received).toHaveLength(3);
  });

  it('errors keep SQLSTATE, position and every other field', async () => {
    const failing = [
      'select 1 +',
      'select nosuch from accounts',
      'select 1/0',
      "insert into accounts values (1, 'dup', 1)",
      'update accounts set balance = -1 where id = 2',
      'insert into accounts (id) values (1000)',
      "select 'abc'::int",
    ];
    for (const sql of failing) {
      const { direct, proxied } = await both((c) => outcome(c.query(sql)));
      expect(proxied, sql).toEqual(direct);
      expect(proxied, sql).toHaveProperty('error.code');
    }
    const syntax = await both((c) => outcome(c.query('select 1 +')));
    expect(syntax.proxied).toMatchObject({
      error: { code: '42601', position: '11', message: 'syntax error at end of input' },
    });
    const unique = await both((c) => outcome(c.query("insert into accounts values (1, 'dup', 1)")));
    expect(unique.proxied).toMatchObject({
      error: { code: '23505', constraint: 'accounts_pkey', detail: 'Key (id)=(1) already exists.' },
    });

    // The session goes on after an error, in and out of transactions.
    const { direct, proxied } = await both(async (c) => {
      await c.query('begin');
      const inTx = await outcome(c.query('select 1/0'));
      const aborted = await outcome(c.query('select 1'));
      await c.query('rollback');
      const after = await c.query('select 2 as two');
      return { inTx, aborted, after: after.rows };
    });
    expect(proxied).toEqual(direct);
    expect(proxied.aborted).toMatchObject({ error: { code: '25P02' } });
    expect(proxied.after).toEqual([{ two: 2 }]);
  });

  it('pipelines many queries on one connection (pipeline mode), an error affecting only its own query', async () => {
    const run = async (c: pg.Client) => {
      const queries: Promise<unknown>[] = [];
      for (let i = 0; i < 60; i++) {
        if (i === 30) queries.push(outcome(c.query('select 1/0')));
        else if (i % 3 === 0) queries.push(outcome(c.query('select $1::int * 2 as v', [i])));
        else if (i % 3 === 1)
          queries.push(
            outcome(
              c.query({ name: 'owner_by_id', text: 'select owner from accounts where id = $1', values: [i] }),
            ),
          );
        else queries.push(outcome(c.query(`select ${i} as v, pg_backend_pid() = pg_backend_pid() as same`)));
      }
      return Promise.all(queries);
    };
    const { direct, proxied } = await both(run, { pipeline: true });
    expect(proxied).toEqual(direct);
    expect(proxied[30]).toMatchObject({ error: { code: '22012' } });
    expect(proxied[31]).toEqual({ ok: expect.objectContaining({ rows: [{ owner: 'owner 31' }] }) });
    expect(proxied[58]).toEqual({ ok: expect.objectContaining({ rows: [{ owner: 'owner 58' }] }) });
    expect(proxied[59]).toEqual({ ok: expect.objectContaining({ rows: [{ v: 59, same: true }] }) });
  });

  it('queued queries without pipeline mode keep their order', async () => {
    const { direct, proxied } = await both(async (c) => {
      const all = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          c.query('select $1::int as i, pg_sleep(0) is not null as s', [i]),
        ),
      );
      return all.map((r) => r.rows[0]);
    });
    expect(proxied).toEqual(direct);
    expect(proxied.map((r) => r.i)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('a cursor reads in batches: Execute row limits and PortalSuspended', async () => {
    const suspendedBefore = proxy().metrics.fromUpstream.messages[0x73] ?? 0; // 's'
    const { direct, proxied } = await both(async (c) => {
      const cursor = c.query(
        new Cursor('select i, md5(i::text) as h from generate_series(1, $1::int) i', [1000]),
      );
      const batches: number[] = [];
      const rows: unknown[] = [];
      for (;;) {
        const batch = await cursor.read(100);
        if (batch.length === 0) break;
        batches.push(batch.length);
        rows.push(...batch);
      }
      await cursor.close();
      // The connection is usable after the cursor.
      const after = await c.query('select 1 as one');
      return { batches, digest: sha256(JSON.stringify(rows)), first: rows[0], after: after.rows };
    });
    expect(proxied).toEqual(direct);
    expect(proxied.batches).toEqual(Array(10).fill(100));
    expect(proxied.first).toEqual({ i: 1, h: 'c4ca4238a0b923820dcc509a6f75849b' });
    // Ten full batches suspended the portal ten times (the eleventh read finds it exhausted).
    expect((proxy().metrics.fromUpstream.messages[0x73] ?? 0) - suspendedBefore).toBe(10);
  });

  it('COPY FROM STDIN and TO STDOUT streams (text and binary) match direct', async () => {
    const lines = (offset: number) =>
      Readable.from(
        (function* () {
          for (let i = 1; i <= 50_000; i++) {
            const id = offset + i;
            yield `${id}\tkind-${i % 7}\t{"n": ${i}, "s": "v\\\\\\\\${i}"}\t2024-03-01 00:00:${String(i % 60).padStart(2, '0')}+00\n`;
          }
        })(),
      );
    const { direct, proxied } = await both(async (c, via) => {
      const offset = via === 'proxied' ? 1_000_000 : 0;
      const into = c.query(copyFrom('copy events (id, kind, payload, at) from stdin'));
      await pipeline(lines(offset), into);
      const out = async (sql: string) => {
        const chunks: Buffer[] = [];
        const stream = c.query(copyTo(sql));
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks);
      };
      const text = await out(
        `copy (select id - ${offset}, kind, payload, at from events where id > ${offset} and id <= ${offset + 50_000} order by id) to stdout`,
      );
      const binary = await out(
        `copy (select id - ${offset}, kind, payload from events where id > ${offset} and id <= ${offset + 50_000} order by id) to stdout (format binary)`,
      );
      return {
        loaded: into.rowCount,
        textBytes: text.length,
        text: sha256(text),
        binaryBytes: binary.length,
        binary: sha256(binary),
      };
    });
    expect(proxied).toEqual(direct);
    expect(proxied.loaded).toBe(50_000);
    expect(proxied.textBytes).toBeGreaterThan(2_000_000);
  });

  it('a failing COPY FROM reports the same error and leaves the session usable', async () => {
    const { direct, proxied } = await both(async (c) => {
      const into = c.query(copyFrom('copy accounts (id, owner, balance) from stdin'));
      const error = await outcome(
        pipeline(Readable.from(['5000\tok\t1\n', '5001\tbad\tnot-a-number\n']), into),
      );
      const after = await c.query('select count(*)::int as n from accounts where id >= 5000');
      return { error, after: after.rows };
    });
    expect(proxied).toEqual(direct);
    expect(proxied.error).toMatchObject({ error: { code: '22P02' } });
    expect(proxied.after).toEqual([{ n: 0 }]);
  });
});
