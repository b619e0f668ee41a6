import { usePostgres } from '@pgwarden/e2e';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ClientPool,
  counterValue,
  errorFields,
  msg,
  queryMessage,
  RawConnection,
} from '../integration/helpers.js';
import type { TestProxy } from '../support/proxy.js';
import { databaseState, schemaSql, startPolicyProxy } from './support.js';

const cluster = usePostgres();
let proxy: TestProxy;
const pool = new ClientPool();

beforeAll(async () => {
  await cluster().psql(schemaSql);
  proxy = await startPolicyProxy(cluster(), 'read-write.yaml');
});
afterEach(() => pool.endAll());
afterAll(() => proxy.drain(1000));

const client = () => pool.pg(proxy.url());

/** The statement is refused with the rule named, the session stays usable, and the database is untouched. */
async function expectRefused(c: pg.Client, sql: string, rule: string, sqlstate = '42501'): Promise<void> {
  const before = await databaseState(cluster());
  const err = await c.query(sql).then(
    () => null,
    (e: pg.DatabaseError) => e,
  );
  expect(err, `${sql} should be refused`).not.toBeNull();
  expect(err?.code).toBe(sqlstate);
  expect(err?.message).toContain(`rule "${rule}"`);
  expect(await databaseState(cluster())).toBe(before);
  expect((await c.query('SELECT 1 AS still_usable')).rows).toEqual([{ still_usable: 1 }]);
}

describe('simple Query', () => {
  it('runs what the policy allows', async () => {
    const c = await client();
    expect((await c.query('SELECT count(*)::int AS n FROM accounts')).rows).toEqual([{ n: 20 }]);
    await c.query("INSERT INTO scratch VALUES (1, 'allowed by scratch-writes')");
    expect(await cluster().psql('SELECT count(*) FROM scratch')).toBe('1');
    await c.query('DELETE FROM scratch');
  });

  it('denies DDL, names the rule, and says what it saw', async () => {
    const c = await client();
    const deniedBefore = await counterValue(proxy.metrics.decisions, { outcome: 'deny', rule: 'no-ddl' });
    const err = (await c.query('DROP TABLE accounts').catch((e) => e)) as pg.DatabaseError;
    expect(err.message).toBe('pgwarden: denied by rule "no-ddl": Schema changes go through migrations.');
    expect(err.detail).toContain('statement kind: ddl (DropStmt)');
    expect(err.hint).toContain('not sent to the database');
    await expectRefused(c, 'DROP TABLE accounts', 'no-ddl');
    expect(await counterValue(proxy.metrics.decisions, { outcome: 'deny', rule: 'no-ddl' })).toBe(
      deniedBefore + 2,
    );
  });

  it('refuses a statement needing approval, as approvals do not exist yet', async () => {
    const c = await client();
    const err = (await c.query('DELETE FROM accounts').catch((e) => e)) as pg.DatabaseError;
    expect(err.message).toMatch(/^pgwarden: statement needs approval by rule "writes-need-approval"/);
    await expectRefused(c, 'UPDATE accounts SET balance = 0', 'writes-need-approval');
  });

  it('decides a multi-statement message as a whole: one refused statement runs none of them', async () => {
    const c = await client();
    await expectRefused(c, "INSERT INTO scratch VALUES (2, 'x'); DROP TABLE secrets", 'no-ddl');
    await expectRefused(
      c,
      "INSERT INTO scratch VALUES (3, 'x'); DELETE FROM accounts",
      'writes-need-approval',
    );
  });

  it('stacking after COMMIT or ROLLBACK does not escape', async () => {
    const c = await client();
    await expectRefused(c, 'COMMIT; DROP TABLE accounts', 'no-ddl');
    await expectRefused(c, 'ROLLBACK; DELETE FROM accounts; BEGIN', 'writes-need-approval');
  });

  it('inside a transaction, a refused statement aborts it as a failing statement would', async () => {
    const c = await client();
    await c.query('BEGIN');
    await c.query("INSERT INTO scratch VALUES (9, 'in tx')");
    await expect(c.query('DROP TABLE accounts')).rejects.toMatchObject({ code: '42501' });
    await expect(c.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' });
    await c.query('ROLLBACK');
    expect(await cluster().psql('SELECT count(*) FROM scratch WHERE id = 9')).toBe('0');
  });

  it.each([
    [
      'a data-modifying CTE',
      'WITH d AS (DELETE FROM accounts RETURNING *) SELECT count(*) FROM d',
      'writes-need-approval',
    ],
    [
      'a data-modifying CTE in a subquery',
      'SELECT * FROM (WITH d AS (UPDATE accounts SET balance = 0 RETURNING id) SELECT * FROM d) s',
      'writes-need-approval',
    ],
    ['SELECT INTO', 'SELECT * INTO stolen FROM secrets', 'no-ddl'],
    ['CREATE TABLE AS', 'CREATE TABLE stolen AS SELECT * FROM secrets', 'no-ddl'],
    [
      'EXPLAIN ANALYZE of a DELETE (it executes)',
      'EXPLAIN ANALYZE DELETE FROM accounts',
      'writes-need-approval',
    ],
    ['a DO block', "DO $$ BEGIN EXECUTE 'DROP TABLE accounts'; END $$", 'no-ddl'],
    ['CREATE FUNCTION', 'CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$', 'no-ddl'],
    ['VACUUM', 'VACUUM accounts', 'no-ddl'],
    ['GRANT', 'GRANT ALL ON secrets TO PUBLIC', 'no-ddl'],
    ['TRUNCATE', 'TRUNCATE accounts', 'no-ddl'],
    ['COPY FROM a server file', "COPY accounts FROM '/etc/passwd'", 'copy-server-file'],
    ['COPY TO PROGRAM', "COPY accounts TO PROGRAM 'cat > /tmp/x'", 'copy-server-file'],
    ['pg_read_file in a SELECT', "SELECT pg_read_file('/etc/passwd')", 'function-deny-list'],
    ['pg_terminate_backend', 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity', 'function-deny-list'],
    ['lo_export', "SELECT lo_export(0, '/tmp/x')", 'function-deny-list'],
    ['set_config of role', "SELECT set_config('role', 'pgwarden', false)", 'guarded-setting'],
    ['SET ROLE', 'SET ROLE pgwarden', 'guarded-setting'],
    ['SET SESSION AUTHORIZATION', 'SET SESSION AUTHORIZATION pgwarden', 'guarded-setting'],
    ['RESET ROLE', 'RESET role', 'guarded-setting'],
    ['statement_timeout above the policy', "SET statement_timeout = '1h'", 'guarded-setting'],
    ['statement_timeout off', 'SET statement_timeout = 0', 'guarded-setting'],
    ['backslash escapes in plain strings', 'SET standard_conforming_strings = off', 'guarded-setting'],
    [
      'set_config of standard_conforming_strings',
      "SELECT set_config('standard_conforming_strings', 'off', true)",
      'guarded-setting',
    ],
    ['a client encoding that can hide a quote', "SET client_encoding = 'SJIS'", 'guarded-setting'],
    ['SET NAMES with such an encoding', "SET NAMES 'GBK'", 'guarded-setting'],
    ['such an encoding under another spelling', "SET client_encoding = 'Windows-932'", 'guarded-setting'],
    [
      'switching off triggers and foreign keys',
      "SET session_replication_role = 'replica'",
      'guarded-setting',
    ],
  ])('refuses %s', async (_what, sql, rule) => {
    await expectRefused(await client(), sql, rule);
  });

  it('refuses SQL it cannot parse with the parser position, and sends nothing', async () => {
    const c = await client();
    const err = (await c.query('SELEC 1').catch((e) => e)) as pg.DatabaseError;
    expect(err.code).toBe('42601');
    expect(err.message).toContain('does not parse');
    expect(err.detail).toBe('at character 1');
  });

  it('allows what is merely session state or reads', async () => {
    const c = await client();
    await c.query('LISTEN jobs');
    await c.query("NOTIFY jobs, 'hi'");
    await c.query("SET application_name = 'agent'");
    await c.query("SET statement_timeout = '2s'");
    expect((await c.query('SELECT * FROM accounts WHERE id = 1 FOR UPDATE')).rowCount).toBe(1);
    await c.query('COPY (SELECT 1) TO STDOUT').catch(() => undefined);
  });
});

describe('prepared statements', () => {
  it('SQL PREPARE/EXECUTE follows the prepared statement', async () => {
    const c = await client();
    await c.query('PREPARE one_account(int) AS SELECT * FROM accounts WHERE id = $1');
    expect((await c.query('EXECUTE one_account(3)')).rows[0]).toMatchObject({ id: 3 });
    await expectRefused(c, 'PREPARE wipe AS DELETE FROM accounts', 'writes-need-approval');
    const err = (await c.query('EXECUTE wipe').catch((e) => e)) as pg.DatabaseError;
    expect(err.code).toBe('26000');
    await c.query("PREPARE note(int) AS INSERT INTO scratch VALUES ($1, 'prepared')");
    await c.query('EXECUTE note(5)');
    await c.query('DEALLOCATE note');
    // The arguments of EXECUTE run too: they are judged with the prepared statement.
    await c.query('PREPARE echo(text) AS SELECT $1');
    await expectRefused(c, "EXECUTE echo(pg_read_file('/etc/passwd'))", 'function-deny-list');
    await expect(c.query('EXECUTE note(6)')).rejects.toMatchObject({ code: '26000' });
    await c.query('DELETE FROM scratch');
  });

  it('extended protocol: decided at Parse; Bind/Execute of a refused statement cannot run it', async () => {
    const c = await client();
    const ok = await c.query({ name: 'acct', text: 'SELECT owner FROM accounts WHERE id = $1', values: [2] });
    expect(ok.rows).toEqual([{ owner: 'owner2' }]);
    const before = await cluster().psql('SELECT sum(balance) FROM accounts');
    await expect(
      c.query({ name: 'zero', text: 'UPDATE accounts SET balance = $1', values: [0] }),
    ).rejects.toMatchObject({
      code: '42501',
    });
    // node-postgres thinks "zero" is prepared only after success; send Bind/Execute for it by hand.
    const raw = await RawConnection.open(proxy.port);
    await raw.startup();
    raw.write(
      Buffer.concat([
        msg.parse('evil', 'DELETE FROM accounts'),
        msg.bind('', 'evil'),
        msg.execute(''),
        msg.sync(),
      ]),
    );
    const replies = await raw.untilReady();
    expect(replies.map((m) => m.code).join('')).toBe('EZ');
    expect(errorFields((replies[0] as { body: Buffer }).body).C).toBe('42501');
    raw.write(Buffer.concat([msg.bind('', 'evil'), msg.execute(''), msg.sync()]));
    const again = await raw.untilReady();
    expect(errorFields((again[0] as { body: Buffer }).body).C).toBe('26000');
    raw.socket.destroy();
    expect(await cluster().psql('SELECT sum(balance) FROM accounts')).toBe(before);
  });

  it('a pipeline keeps its order: allowed, refused, allowed each get their own answer', async () => {
    const raw = await RawConnection.open(proxy.port);
    await raw.startup();
    raw.write(
      Buffer.concat([
        msg.parse('', 'SELECT 1'),
        msg.bind('', ''),
        msg.execute(''),
        msg.sync(),
        msg.parse('', 'DROP TABLE accounts'),
        msg.bind('', ''),
        msg.execute(''),
        msg.sync(),
        queryMessage('SELECT 2; DROP TABLE secrets'),
        msg.parse('', 'SELECT 3'),
        msg.bind('', ''),
        msg.execute(''),
        msg.sync(),
      ]),
    );
    const codes: string[] = [];
    for (let ready = 0; ready < 4; ) {
      const m = await raw.next();
      if (!m) throw new Error('closed');
      codes.push(m.code === 'E' ? `E:${errorFields(m.body).C}` : m.code);
      if (m.code === 'Z') ready++;
    }
    expect(codes.join(' ')).toBe('1 2 D C Z E:42501 Z E:42501 Z 1 2 D C Z');
    raw.socket.destroy();
  });

  it('a FunctionCall is decided as SELECT of the function its OID names, and what follows it waits', async () => {
    const oidOf = async (signature: string) =>
      Number(await cluster().psql(`SELECT '${signature}'::regprocedure::oid`));
    const abs = await oidOf('abs(integer)');
    const readFile = await oidOf('pg_read_file(text)');
    const int4 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeInt32BE(n);
      return b;
    };
    const raw = await RawConnection.open(proxy.port);
    await raw.startup();
    raw.write(
      Buffer.concat([
        msg.functionCall(abs, [int4(-7)]),
        queryMessage('SELECT 1'),
        msg.functionCall(readFile, [Buffer.from('/etc/passwd')]),
        msg.functionCall(2_000_000_000, []),
        queryMessage('SELECT 2'),
      ]),
    );
    const seen: string[] = [];
    for (let ready = 0; ready < 5; ) {
      const m = await raw.next();
      if (!m) throw new Error('closed');
      if (m.code === 'V') seen.push(`V:${m.body.readInt32BE(4)}`);
      else if (m.code === 'E') seen.push(`E:${errorFields(m.body).M?.match(/rule "([^"]+)"/)?.[1]}`);
      else if (m.code === 'D') seen.push(`D:${m.body.toString('utf8', 6)}`);
      else if (m.code === 'Z') {
        seen.push('Z');
        ready++;
      }
    }
    expect(seen.join(' ')).toBe('V:7 Z D:1 Z E:function-deny-list Z E:function-call-protocol Z D:2 Z');
    raw.socket.destroy();
  });
});

describe('limits', () => {
  it('cuts results at maxRows with a notice, and the row count agrees', async () => {
    const c = await client();
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    const r = await c.query('SELECT i FROM generate_series(1, 5000) i');
    expect(r.rows).toHaveLength(1000);
    expect(r.rowCount).toBe(1000);
    expect(notices.join()).toContain('truncated to 1000 rows');
    expect((await c.query('SELECT i FROM generate_series(1, 10) i')).rows).toHaveLength(10);
  });

  it('pins statement_timeout upstream', async () => {
    const c = await client();
    expect((await c.query('SHOW statement_timeout')).rows[0]).toEqual({ statement_timeout: '3s' });
    // pg_sleep is on the default deny list; a long scan needs no special function.
    await expect(c.query('SELECT count(*) FROM generate_series(1, 2000000000)')).rejects.toMatchObject({
      code: '57014',
    });
  });

  it('refuses a startup client encoding that could hide a quote, and accepts single-byte ones', async () => {
    const refused = await RawConnection.open(proxy.port);
    const answer = (await refused.startup({ user: 'a', database: 'b', client_encoding: 'SJIS' })).at(-1);
    expect(answer?.code).toBe('E');
    expect(errorFields((answer as { body: Buffer }).body).M).toContain('client encoding SJIS');
    refused.socket.destroy();
    const respelled = await RawConnection.open(proxy.port);
    const again = (await respelled.startup({ user: 'a', database: 'b', client_encoding: 'S.J.I.S' })).at(-1);
    expect(again?.code).toBe('E');
    respelled.socket.destroy();
    const raw = await RawConnection.open(proxy.port);
    const replies = await raw.startup({ user: 'a', database: 'b', client_encoding: 'LATIN1' });
    expect(replies.at(-1)?.code).toBe('Z');
    raw.socket.destroy();
  });

  it('refuses startup parameters that would bypass the classifier', async () => {
    await expect(pool.pg(proxy.url({ options: '-c statement_timeout=0' }))).rejects.toMatchObject({
      code: '42501',
    });
    const raw = await RawConnection.open(proxy.port);
    const replies = await raw.startup({ user: 'a', database: 'b', statement_timeout: '0' });
    const last = replies.at(-1) as { code: string; body: Buffer };
    expect(last.code).toBe('E');
    expect(errorFields(last.body).M).toContain('"statement_timeout" is not allowed');
    raw.socket.destroy();
  });
});

describe('malformed statement messages', () => {
  it('a Query with bytes after its NUL closes the connection instead of being half-judged', async () => {
    const raw = await RawConnection.open(proxy.port);
    await raw.startup();
    const sql = Buffer.from('SELECT 1\0DROP TABLE accounts\0');
    const header = Buffer.alloc(5);
    header[0] = 0x51;
    header.writeUInt32BE(sql.length + 4, 1);
    raw.write(Buffer.concat([header, sql]));
    const reply = await raw.next();
    expect(reply?.code).toBe('E');
    expect(errorFields((reply as { body: Buffer }).body).C).toBe('08P01');
    await raw.closed;
    expect(await cluster().psql("SELECT to_regclass('accounts') IS NOT NULL")).toBe('t');
  });
});
