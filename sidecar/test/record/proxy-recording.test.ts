import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { usePostgres } from '@pgwarden/e2e';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClientPool, msg, psql, queryMessage, RawConnection } from '../integration/helpers.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import {
  customers,
  eventsOf,
  HASH_KEY_ENV,
  readRecordings,
  schemaSql,
  sealedRecording,
  statementEvents,
  writeRecordingPolicy,
} from './proxy-support.js';
import { replay } from './support.js';

/**
 * Recording through the live proxy: a real PostgreSQL, the proxy with a
 * policy that denies, masks and records into a directory sink, and real
 * clients (psql, node-postgres simple/extended/binary, postgres.js). What the
 * sink holds must verify, and show what each client did and saw.
 */

const cluster = usePostgres();
const pool = new ClientPool();
let sinkDir: string;
let proxy: TestProxy;

beforeAll(async () => {
  await cluster().psql(schemaSql);
  process.env[HASH_KEY_ENV] = 'recording-test-hash-key-0123456789';
  sinkDir = await mkdtemp(join(tmpdir(), 'pgwarden-recordings-'));
  const policy = await writeRecordingPolicy({ sink: { type: 'dir', path: sinkDir } });
  proxy = await startTestProxy(cluster(), {
    policy,
    spoolDir: await mkdtemp(join(tmpdir(), 'pgwarden-spool-')),
  });
});
afterEach(() => pool.endAll());
afterAll(async () => {
  await proxy?.drain(2000);
});

describe('a recorded session through the proxy', () => {
  it('psql: statements, decisions (one denied), masked rows, errors and the session end, verified', async () => {
    const script = [
      'SELECT id, full_name, email, ssn FROM customers ORDER BY id;',
      'DELETE FROM customers WHERE id = 1;',
      'SELECT 1/0;',
      "INSERT INTO notes VALUES (1, 'hello');",
      'SELECT count(*) FROM customers;',
    ].join('\n');
    const result = await psql(
      cluster(),
      proxy.url({ application_name: 'rec-psql' }),
      ['-v', 'ON_ERROR_STOP=0', '-f', '-'],
      { input: script },
    );
    expect(result.stderr).toContain('denied by rule "no-customer-writes"');

    const r = await sealedRecording(sinkDir, 'rec-psql');
    const verified = await replay([sinkDir, '--session', r.id, '--verify']);
    expect(verified.code, verified.out + verified.err).toBe(0);

    const [start] = eventsOf(r, 'session-start');
    const url = new URL(cluster().url('superuser'));
    expect(start).toMatchObject({
      clientUser: 'agent',
      applicationName: 'rec-psql',
      policy: { name: 'recorded-agent' },
      upstream: { host: '127.0.0.1', port: Number(url.port), database: 'app', user: url.username },
      rows: { included: true, capPerStatement: 100 },
    });
    expect(start?.clientAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(r.text.includes(Buffer.from(decodeURIComponent(url.password)))).toBe(false);

    expect(eventsOf(r, 'statement').map((s) => [s.protocol, s.text])).toEqual(
      script.split('\n').map((text) => ['simple', text]),
    );

    const select = statementEvents(r, 'SELECT id, full_name, email, ssn FROM customers ORDER BY id;');
    expect(select.map((e) => e.type)).toEqual(['statement', 'decision', 'rows', 'result']);
    expect(select[1]).toMatchObject({
      outcome: 'allow',
      rule: 'everything-else',
      facts: { kind: 'read', tablesRead: ['customers'] },
    });
    const rows = select[2] as Extract<(typeof r.events)[number], { type: 'rows' }>;
    expect(rows.columns.map((c) => [c.name, c.masked])).toEqual([
      ['id', false],
      ['full_name', false],
      ['email', true],
      ['ssn', true],
    ]);
    expect(rows.rows).toHaveLength(5);
    expect(rows.rows[0]?.slice(0, 2)).toEqual(['1', 'Customer 1']);
    expect(rows.rows[0]?.[3]).toBe('[redacted]');
    expect(rows.rows[0]?.[2]).toMatch(/^h:[0-9a-f]{16}$/);
    expect(select[3]).toMatchObject({ commandTag: 'SELECT 5', rows: 5 });

    const denied = statementEvents(r, 'DELETE FROM customers WHERE id = 1;');
    expect(denied.map((e) => e.type)).toEqual(['statement', 'decision', 'error']);
    expect(denied[1]).toMatchObject({
      outcome: 'deny',
      rule: 'no-customer-writes',
      message: 'customers are changed by the billing service only',
      facts: { kind: 'write', tablesWritten: ['customers'] },
    });
    expect(denied[2]).toMatchObject({ source: 'pgwarden', code: '42501' });

    const failed = statementEvents(r, 'SELECT 1/0;');
    expect(failed.map((e) => e.type)).toEqual(['statement', 'decision', 'error']);
    expect(failed[2]).toMatchObject({ source: 'upstream', code: '22012', message: 'division by zero' });

    const insert = statementEvents(r, "INSERT INTO notes VALUES (1, 'hello');");
    expect(insert.at(-1)).toMatchObject({ type: 'result', commandTag: 'INSERT 0 1', rows: 0 });

    expect(r.events.at(-1)).toMatchObject({
      type: 'session-end',
      reason: 'client-closed',
      totals: { statements: 5, denied: 1, errors: 2, rows: 6 },
    });

    const transcript = await replay([sinkDir, '--session', r.id]);
    expect(transcript.code).toBe(0);
    expect(transcript.out).toContain('DENY by rule "no-customer-writes"');
    expect(transcript.out).toContain('ERROR 22012 (upstream): division by zero');
  });

  it('node-postgres: simple, extended with parameters, a named prepared statement, binary results', async () => {
    const client = await pool.pg(proxy.url({ application_name: 'rec-pg' }));
    await client.query('SELECT full_name FROM customers WHERE id = 2');
    await client.query('SELECT id, ssn, email FROM customers WHERE id = $1', [2]);
    await client.query({
      name: 'order-by-id',
      text: 'SELECT id, amount FROM orders WHERE id = $1',
      values: [3],
    });
    await client.query({
      name: 'order-by-id',
      text: 'SELECT id, amount FROM orders WHERE id = $1',
      values: [4],
    });
    await expect(client.query('DELETE FROM customers WHERE id = $1', [5])).rejects.toMatchObject({
      code: '42501',
    });
    await client.query('SELECT $1::text AS missing', [null]);
    const binary = await pool.pg(proxy.url({ application_name: 'rec-pg-binary' }), { binary: true });
    const { rows } = await binary.query(
      'SELECT id, amount, placed, paid, ref, ssn FROM orders JOIN customers USING (id) WHERE id = $1',
      [2],
    );
    expect(rows).toHaveLength(1);
    await binary.end();
    await client.end();

    const r = await sealedRecording(sinkDir, 'rec-pg');
    expect((await replay([sinkDir, '--session', r.id, '--verify'])).code).toBe(0);
    const simple = statementEvents(r, 'SELECT full_name FROM customers WHERE id = 2');
    expect(simple[0]).toMatchObject({ protocol: 'simple', parameters: [] });
    expect(simple.find((e) => e.type === 'rows')).toMatchObject({ rows: [['Customer 2']] });

    const extended = statementEvents(r, 'SELECT id, ssn, email FROM customers WHERE id = $1');
    expect(extended[0]).toMatchObject({ protocol: 'extended', preparedName: null, parameters: ['2'] });
    expect(extended.map((e) => e.type)).toEqual(['statement', 'decision', 'rows', 'result']);
    expect(extended[2]).toMatchObject({
      columns: [
        { name: 'id', masked: false },
        { name: 'ssn', masked: true },
        { name: 'email', masked: true },
      ],
      rows: [['2', '[redacted]', expect.stringMatching(/^h:/)]],
    });

    const first = statementEvents(r, 'SELECT id, amount FROM orders WHERE id = $1', 0);
    const second = statementEvents(r, 'SELECT id, amount FROM orders WHERE id = $1', 1);
    expect(first[0]).toMatchObject({ protocol: 'prepared', preparedName: 'order-by-id', parameters: ['3'] });
    expect(second[0]).toMatchObject({ protocol: 'prepared', preparedName: 'order-by-id', parameters: ['4'] });
    expect(second.find((e) => e.type === 'rows')).toMatchObject({ rows: [['4', '50.00']] });
    expect(second.find((e) => e.type === 'decision')).toMatchObject({ outcome: 'allow' });

    const denied = statementEvents(r, 'DELETE FROM customers WHERE id = $1');
    expect(denied.map((e) => e.type)).toEqual(['statement', 'decision', 'error']);
    expect(denied[0]).toMatchObject({ protocol: 'extended', parameters: ['5'] });
    expect(denied[1]).toMatchObject({ outcome: 'deny', rule: 'no-customer-writes' });
    expect(denied[2]).toMatchObject({ source: 'pgwarden', code: '42501' });
    expect(statementEvents(r, 'SELECT $1::text AS missing')[0]).toMatchObject({ parameters: [null] });

    const b = await sealedRecording(sinkDir, 'rec-pg-binary');
    const joined = statementEvents(
      b,
      'SELECT id, amount, placed, paid, ref, ssn FROM orders JOIN customers USING (id) WHERE id = $1',
    );
    expect(joined.find((e) => e.type === 'rows')).toMatchObject({
      columns: [
        { name: 'id', typeOid: 23 },
        { name: 'amount', typeOid: 1700 },
        { name: 'placed', typeOid: 1082 },
        { name: 'paid', typeOid: 16 },
        { name: 'ref', typeOid: 2950 },
        { name: 'ssn', typeOid: 25, masked: true },
      ],
      rows: [['2', '25.00', '2026-01-03', 't', '00000000-0000-4000-8000-000000000002', '[redacted]']],
    });
  });

  it('postgres.js: prepared statements named by the driver, parameters, an upstream error', async () => {
    const sql = postgres(proxy.url({ application_name: 'rec-postgresjs' }), { max: 1, onnotice: () => {} });
    try {
      for (const id of [1, 3]) await sql`SELECT id, full_name, ssn FROM customers WHERE id = ${id}`;
      await expect(sql`SELECT * FROM no_such_table WHERE id = ${1}`).rejects.toMatchObject({
        code: '42P01',
      });
      await sql.unsafe('SELECT count(*) AS n FROM notes');
    } finally {
      await sql.end();
    }
    const r = await sealedRecording(sinkDir, 'rec-postgresjs');
    expect((await replay([sinkDir, '--session', r.id, '--verify'])).code).toBe(0);
    const text = 'SELECT id, full_name, ssn FROM customers WHERE id = $1';
    const runs = [statementEvents(r, text, 0), statementEvents(r, text, 1)];
    expect(runs.map((events) => (events[0] as { parameters: unknown }).parameters)).toEqual([['1'], ['3']]);
    expect(runs[1]?.map((e) => e.type)).toEqual(['statement', 'decision', 'rows', 'result']);
    expect(runs[1]?.[0]).toMatchObject({ protocol: 'prepared', preparedName: expect.any(String) });
    expect(runs[1]?.find((e) => e.type === 'rows')).toMatchObject({
      rows: [['3', 'Customer 3', '[redacted]']],
    });
    const missing = statementEvents(r, 'SELECT * FROM no_such_table WHERE id = $1');
    expect(missing.find((e) => e.type === 'error')).toMatchObject({ source: 'upstream', code: '42P01' });
  });

  it('raw protocol: FunctionCall, a portal read in parts, a binary parameter, and an Execute a failed Parse skipped', async () => {
    const oidOf = async (signature: string) =>
      Number(await cluster().psql(`SELECT '${signature}'::regprocedure::oid`));
    const int4 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeInt32BE(n);
      return b;
    };
    const raw = await RawConnection.open(proxy.port);
    await raw.startup({ user: 'agent', database: 'app', application_name: 'rec-raw' });
    raw.write(
      Buffer.concat([
        msg.functionCall(await oidOf('abs(integer)'), [int4(-7)]),
        msg.functionCall(await oidOf('pg_read_file(text)'), [Buffer.from('/etc/passwd')]),
        msg.parse('', 'SELECT id FROM orders WHERE id > $1 ORDER BY id', [23]),
        msg.bind('', '', [int4(0)], [1]),
        msg.execute('', 2),
        msg.execute('', 0),
        msg.sync(),
        msg.parse('', 'SELECT * FROM no_such_table'),
        msg.bind('', ''),
        msg.execute(''),
        msg.parse('', 'SELECT 42 AS skipped'),
        msg.bind('', ''),
        msg.execute(''),
        msg.sync(),
        queryMessage('SELECT 1'),
      ]),
    );
    for (let ready = 0; ready < 5; ) {
      const m = await raw.next();
      if (!m) throw new Error('closed');
      if (m.code === 'Z') ready++;
    }
    raw.write(msg.terminate());
    await raw.closed;

    const r = await sealedRecording(sinkDir, 'rec-raw');
    expect((await replay([sinkDir, '--session', r.id, '--verify'])).code).toBe(0);
    const calls = eventsOf(r, 'statement').filter((e) => e.protocol === 'function-call');
    expect(calls.map((c) => [c.text, c.parameters])).toEqual([
      ['SELECT pg_catalog.abs($1)', ['(binary) \\xfffffff9']],
      ['SELECT pg_catalog.pg_read_file($1)', ['(binary) \\x2f6574632f706173737764']],
    ]);
    const allowed = r.events.filter((e) => 'statementId' in e && e.statementId === calls[0]?.statementId);
    expect(allowed.map((e) => e.type)).toEqual(['statement', 'decision', 'result']);
    const denied = r.events.filter((e) => 'statementId' in e && e.statementId === calls[1]?.statementId);
    expect(denied.map((e) => e.type)).toEqual(['statement', 'decision', 'error']);
    expect(denied[1]).toMatchObject({ outcome: 'deny', rule: 'function-deny-list' });

    const parts = 'SELECT id FROM orders WHERE id > $1 ORDER BY id';
    expect(statementEvents(r, parts, 0)[0]).toMatchObject({ protocol: 'extended', parameters: ['0'] });
    expect(statementEvents(r, parts, 0).at(-1)).toMatchObject({ type: 'result', commandTag: null, rows: 2 });
    expect(statementEvents(r, parts, 1).find((e) => e.type === 'rows')).toMatchObject({
      rows: [['3'], ['4'], ['5']],
    });
    expect(statementEvents(r, parts, 1).at(-1)).toMatchObject({ commandTag: 'SELECT 3', rows: 3 });

    expect(statementEvents(r, 'SELECT * FROM no_such_table').map((e) => e.type)).toEqual([
      'statement',
      'decision',
      'error',
    ]);
    expect(eventsOf(r, 'statement').map((e) => e.text)).not.toContain('SELECT 42 AS skipped');
    // In the order they ran, though the Query was sent while the Executes before it were still unanswered.
    expect(eventsOf(r, 'statement').map((e) => e.text)).toEqual([
      'SELECT pg_catalog.abs($1)',
      'SELECT pg_catalog.pg_read_file($1)',
      parts,
      parts,
      'SELECT * FROM no_such_table',
      'SELECT 1',
    ]);
  });

  it('never records a seeded SSN or email, nor the upstream password, in any byte of any chunk', async () => {
    const client = await pool.pg(proxy.url({ application_name: 'rec-leak' }));
    await client.query('SELECT * FROM customers');
    await client.query("SELECT 'ssn ' || ssn AS copy, upper(email) FROM customers");
    await client.query('SELECT * FROM customers WHERE id = $1', [1]).catch(() => undefined);
    await client.end();
    await sealedRecording(sinkDir, 'rec-leak');
    const all = await readRecordings(sinkDir);
    expect(all.length).toBeGreaterThanOrEqual(4);
    const password = decodeURIComponent(new URL(cluster().url('superuser')).password);
    const needles = [
      ...customers.flatMap((c) => [c.ssn, c.email, c.email.toUpperCase(), c.ssn.replaceAll('-', '')]),
      password,
    ];
    for (const r of all) {
      const leaked = needles.filter((n) => r.text.includes(Buffer.from(n)));
      expect(leaked, `recording ${r.id}`).toEqual([]);
    }
  });
});
