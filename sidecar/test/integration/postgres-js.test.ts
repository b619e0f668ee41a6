import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { usePostgres } from '@pgwarden/e2e';
import postgres from 'postgres';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useProxy } from '../support/proxy.js';
import { sha256, waitFor } from './helpers.js';

// postgres.js (prepared statements by default, true pipelining) through the
// proxy: every test runs the same operation directly and through the proxy.

const cluster = usePostgres();
const proxy = useProxy(cluster);

type Sql = postgres.Sql;
type Options = postgres.Options<Record<string, postgres.PostgresType>>;
const opened: Sql[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((sql) => sql.end({ timeout: 1 })));
});

function connect(url: string, options: Options = {}): Sql {
  const sql: Sql = postgres(url, { max: 1, onnotice: () => {}, ...options });
  opened.push(sql);
  return sql;
}

async function both<T>(op: (sql: Sql, via: 'direct' | 'proxied') => Promise<T>, options: Options = {}) {
  const direct = await op(connect(cluster().url(), options), 'direct');
  const proxied = await op(connect(proxy().url(), options), 'proxied');
  return { direct, proxied };
}

/** Rows and metadata of a result, without the per-connection state postgres.js attaches. */
function shape(r: postgres.RowList<postgres.Row[]>) {
  return {
    rows: [...r],
    count: r.count,
    command: r.command,
    columns: r.columns?.map((c) => [c.name, c.type]),
  };
}

async function outcome<T>(promise: Promise<T>) {
  try {
    return { ok: await promise };
  } catch (err) {
    const e = err as postgres.PostgresError;
    return {
      error: {
        code: e.code,
        message: e.message,
        severity: e.severity,
        position: e.position,
        detail: e.detail,
        routine: e.routine,
      },
    };
  }
}

const parses = () => proxy().metrics.fromClient.messages[0x50] ?? 0; // 'P'
const suspensions = () => proxy().metrics.fromUpstream.messages[0x73] ?? 0; // 's'

beforeAll(async () => {
  await cluster().psql(`
    create table people (id int primary key, name text, born date, tags text[]);
    insert into people select i, 'person ' || i, date '1970-01-01' + i, array['t' || (i % 5)] from generate_series(1, 500) i;
    create table log (id int, line text);
  `);
});

describe('postgres.js through the proxy', () => {
  it('tagged queries with parameters give the same results', async () => {
    const { direct, proxied } = await both(async (sql) => {
      const ids = [2, 4, 8];
      const a = await sql`select id, name, born, tags from people where id in ${sql(ids)} order by id`;
      const b =
        await sql`select ${'text ✓'}::text as t, ${42}::int as i, ${new Date('2024-05-06T07:08:09Z')}::timestamptz as ts, ${sql.json({ k: [1, 'x'] })} as j`;
      return { a: shape(a), b: shape(b) };
    });
    expect(proxied).toEqual(direct);
    expect(proxied.a.rows.map((r) => r.name)).toEqual(['person 2', 'person 4', 'person 8']);
    expect(proxied.b.rows[0]).toMatchObject({ t: 'text ✓', i: 42, j: { k: [1, 'x'] } });
  });

  it('prepares each statement once and reuses it (prepare: true)', async () => {
    let before = 0;
    const { direct, proxied } = await both(async (sql, via) => {
      await sql`select 1`; // connect and load types first
      if (via === 'proxied') before = parses();
      const rows = [];
      for (let i = 1; i <= 10; i++) rows.push(...(await sql`select name from people where id = ${i}`));
      const after = via === 'proxied' ? parses() : 0;
      const prepared =
        await sql`select statement from pg_prepared_statements where statement like ${'select name from people%'}`;
      return { rows, parsed: after - before, prepared: [...prepared] };
    });
    expect(proxied.rows).toEqual(direct.rows);
    expect(proxied.rows).toHaveLength(10);
    expect(proxied.parsed).toBe(1);
    expect(proxied.prepared).toEqual([{ statement: 'select name from people where id = $1' }]);
    expect(direct.prepared).toEqual(proxied.prepared);
  });

  it('pipelines hundreds of queries on one connection, in order, an error failing only its query', async () => {
    const { direct, proxied } = await both((sql) =>
      Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          outcome(
            i === 150
              ? sql`select 1/0`
              : i % 2
                ? sql`select ${i}::int as i, name from people where id = ${(i % 500) + 1}`
                : sql`select ${i}::int * 2 as doubled`,
          ).then((r) => ('ok' in r ? { ok: [...(r.ok as Iterable<unknown>)] } : r)),
        ),
      ),
    );
    expect(proxied).toEqual(direct);
    expect(proxied[150]).toMatchObject({ error: { code: '22012' } });
    expect(proxied[149]).toEqual({ ok: [{ i: 149, name: 'person 150' }] });
    expect(proxied[298]).toEqual({ ok: [{ doubled: 596 }] });
  });

  it('sql.unsafe runs a multi-statement simple query and returns every result', async () => {
    const { direct, proxied } = await both(async (sql) => {
      const results = (await sql
        .unsafe(
          "select 1 as a; select 'two' as b, 3 as c; create temp table x (i int); insert into x values (1), (2); select count(*)::int as n from x",
        )
        .simple()) as unknown as postgres.RowList<postgres.Row[]>[];
      return results.map(shape);
    });
    expect(proxied).toEqual(direct);
    // postgres.js keeps only the results that carry rows (and labels them oddly), directly as through the proxy.
    expect(proxied.map((r) => r.rows)).toEqual([[{ a: 1 }], [{ b: 'two', c: 3 }], [{ n: 2 }]]);
  });

  it('LISTEN/NOTIFY with sql.listen and sql.notify', async () => {
    const sql = connect(proxy().url(), { max: 2 });
    const received: string[] = [];
    const { unlisten } = await sql.listen('jobs', (payload) => received.push(payload));
    const other = connect(proxy().url());
    await other.notify('jobs', 'one');
    await other`select pg_notify('jobs', ${'two ✓'})`;
    await other.begin(async (tx) => {
      await tx`notify jobs, 'three'`;
    });
    await waitFor('three notifications', () => received.length >= 3, 5000);
    expect(received).toEqual(['one', 'two ✓', 'three']);
    await unlisten();
    await other.notify('jobs', 'not delivered');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received).toHaveLength(3);
  });

  it('COPY FROM STDIN with .writable() and TO STDOUT with .readable()', async () => {
    const { direct, proxied } = await both(async (sql, via) => {
      const base = via === 'proxied' ? 100_000 : 0;
      const writable = await sql`copy log (id, line) from stdin`.writable();
      await pipeline(
        Readable.from(
          (function* () {
            for (let i = 1; i <= 20_000; i++) yield `${base + i}\tline ${i} with \\t tab and ünïcode\n`;
          })(),
        ),
        writable,
      );
      const readable =
        await sql`copy (select id - ${sql.unsafe(String(base))}, line from log where id > ${sql.unsafe(String(base))} and id <= ${sql.unsafe(String(base + 20_000))} order by id) to stdout`.readable();
      const chunks: Buffer[] = [];
      for await (const chunk of readable) chunks.push(chunk as Buffer);
      const out = Buffer.concat(chunks);
      const [count] =
        await sql`select count(*)::int as n from log where id > ${base} and id <= ${base + 20_000}`;
      return { count: count?.n, bytes: out.length, digest: sha256(out), head: out.toString().split('\n', 2) };
    });
    expect(proxied).toEqual(direct);
    expect(proxied.count).toBe(20_000);
    expect(proxied.head).toEqual([
      '1\tline 1 with \\t tab and ünïcode',
      '2\tline 2 with \\t tab and ünïcode',
    ]);
  });

  it('a cursor fetches in batches (Execute row limit, PortalSuspended)', async () => {
    let suspended = 0;
    const { direct, proxied } = await both(async (sql, via) => {
      await sql`select 1`;
      const before = suspensions();
      const batches: number[] = [];
      const rows: unknown[] = [];
      for await (const batch of sql`select id, name from people order by id`.cursor(64)) {
        batches.push(batch.length);
        rows.push(...batch);
      }
      if (via === 'proxied') suspended = suspensions() - before;
      return { batches, digest: sha256(JSON.stringify(rows)) };
    });
    expect(proxied).toEqual(direct);
    expect(proxied.batches).toEqual([...Array(7).fill(64), 52]);
    // 500 rows in batches of 64: the portal was suspended after each of the 7 full batches.
    expect(suspended).toBe(7);
  });

  it('errors keep SQLSTATE, position and detail', async () => {
    const { direct, proxied } = await both(async (sql) => [
      await outcome(sql`select 1 +`.simple()),
      await outcome(sql`select nosuch from people`),
      await outcome(sql`insert into people (id) values (1)`),
      await outcome(sql`select ${'x'}::int`),
    ]);
    expect(proxied).toEqual(direct);
    expect(proxied[0]).toMatchObject({ error: { code: '42601', position: '11' } });
    expect(proxied[1]).toMatchObject({ error: { code: '42703', position: '8' } });
    expect(proxied[2]).toMatchObject({ error: { code: '23505', detail: 'Key (id)=(1) already exists.' } });
    expect(proxied[3]).toMatchObject({ error: { code: '22P02' } });
  });

  it('transactions with savepoints behave the same', async () => {
    const { direct, proxied } = await both(async (sql, via) => {
      const id = via === 'proxied' ? 9002 : 9001;
      const result = await sql.begin(async (tx) => {
        await tx`insert into people (id, name) values (${id}, 'kept')`;
        const inner = await outcome(
          tx.savepoint(async (sp) => {
            await sp`insert into people (id, name) values (${id + 10}, 'rolled back')`;
            await sp`select 1/0`;
          }),
        );
        return inner;
      });
      const rows = await sql`select name from people where id in (${id}, ${id + 10}) order by id`;
      return { result, rows: [...rows] };
    });
    expect(proxied).toEqual(direct);
    expect(proxied.rows).toEqual([{ name: 'kept' }]);
  });
});
