import { usePostgres } from '@pgwarden/e2e';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestProxy, useProxy } from '../support/proxy.js';
import {
  type BackendMessage,
  dataRowColumns,
  errorFields,
  msg,
  queryMessage,
  RawConnection,
  waitFor,
} from './helpers.js';

// Protocol features no driver in this suite exercises on its own, spoken
// message by message: binary results byte for byte, Flush without Sync,
// interleaved named portals, FunctionCall, CopyFail, CopyData size limits,
// ParameterStatus, EmptyQueryResponse and Terminate.

const cluster = usePostgres();
const proxy = useProxy(cluster, { maxMessageSize: '1MiB', maxCopyDataSize: '2MiB' });

const open: RawConnection[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.destroy();
});

async function session(port = proxy().port): Promise<RawConnection> {
  const raw = await RawConnection.open(port);
  open.push(raw);
  const startup = await raw.startup();
  expect(startup.at(-1)?.code).toBe('Z');
  return raw;
}

const codes = (messages: BackendMessage[]) => messages.map((m) => m.code).join('');
const text = (b: Buffer | null | undefined) => b?.toString('utf8') ?? null;

beforeAll(async () => {
  await cluster().psql('create table sink (line text); grant all on sink to public;');
});

describe('the wire protocol through the proxy', () => {
  it('binary-format DataRows are byte-identical to what the type send functions produce', async () => {
    const values = [
      ['-2::int4', 'int4send'],
      ['1.5::float4', 'float4send'],
      ['pi()::float8', 'float8send'],
      ['9007199254740993::int8', 'int8send'],
      ["'héllo ✓'::text", 'textsend'],
      ["'2024-01-02 03:04:05.678+00'::timestamptz", 'timestamptz_send'],
      ["'{1,NULL,3}'::int4[]", 'array_send'],
      ['12.340::numeric', 'numeric_send'],
      ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", 'uuid_send'],
      ["'\\xdeadbeef00ff'::bytea", 'byteasend'],
      [`'{"k": [1, "x"]}'::jsonb`, 'jsonb_send'],
    ] as const;
    const raw = await session();
    raw.write(
      Buffer.concat([
        msg.parse('', `select ${values.map(([v]) => v).join(', ')}`),
        msg.bind('', '', [], [], [1]), // one result format code: all columns binary
        msg.describe('P', ''),
        msg.execute(''),
        msg.sync(),
      ]),
    );
    const binary = await raw.untilReady();
    expect(codes(binary)).toBe('12TDCZ');
    const row = dataRowColumns((binary.find((m) => m.code === 'D') as BackendMessage).body);

    raw.write(queryMessage(`select ${values.map(([v, send]) => `encode(${send}(${v}), 'hex')`).join(', ')}`));
    const expected = dataRowColumns(
      ((await raw.untilReady()).find((m) => m.code === 'D') as BackendMessage).body,
    );
    expect(row.map((c) => c?.toString('hex'))).toEqual(expected.map(text));
    expect(row[0]?.toString('hex')).toBe('fffffffe');
  });

  it('Flush delivers results before any Sync', async () => {
    const raw = await session();
    raw.write(Buffer.concat([msg.parse('s1', 'select $1::int * 10 as v', [23]), msg.flush()]));
    expect((await raw.next(3000))?.code).toBe('1'); // ParseComplete, with no Sync sent
    const param = Buffer.alloc(4);
    param.writeInt32BE(7);
    raw.write(Buffer.concat([msg.bind('', 's1', [param], [1]), msg.execute(''), msg.flush()]));
    const got = [await raw.next(3000), await raw.next(3000), await raw.next(3000)];
    expect(got.map((m) => m?.code).join('')).toBe('2DC');
    expect(text(dataRowColumns(got[1]?.body as Buffer)[0])).toBe('70');
    raw.write(msg.sync());
    expect(codes(await raw.untilReady())).toBe('Z');
  });

  it('interleaves two named portals with row limits (PortalSuspended) inside a transaction', async () => {
    const raw = await session();
    raw.write(queryMessage('begin'));
    await raw.untilReady();
    raw.write(
      Buffer.concat([
        msg.parse('series', 'select generate_series(1, 5)::text'),
        msg.bind('p1', 'series'),
        msg.bind('p2', 'series'),
        msg.execute('p1', 2),
        msg.execute('p2', 3),
        msg.execute('p1', 0),
        msg.close('P', 'p2'),
        msg.execute('p2', 1), // closed: an error, and the rest is skipped until Sync
        msg.sync(),
      ]),
    );
    const messages = await raw.untilReady();
    expect(codes(messages)).toBe('122DDsDDDsDDDC3EZ');
    const rows = messages.filter((m) => m.code === 'D').map((m) => text(dataRowColumns(m.body)[0]));
    expect(rows).toEqual(['1', '2', '1', '2', '3', '3', '4', '5']);
    const error = errorFields(messages.find((m) => m.code === 'E')?.body as Buffer);
    expect(error).toMatchObject({ S: 'ERROR', C: '34000', M: 'portal "p2" does not exist' });
    expect(messages.at(-1)?.body.toString()).toBe('E'); // failed transaction
    raw.write(queryMessage('rollback'));
    expect((await raw.untilReady()).at(-1)?.body.toString()).toBe('I');
  });

  it('an error in a pipelined batch skips to Sync; the next batch runs', async () => {
    const raw = await session();
    raw.write(
      Buffer.concat([
        msg.parse('', 'select 1/0'),
        msg.bind('', ''),
        msg.execute(''),
        msg.sync(),
        msg.parse('', "select 'after'"),
        msg.bind('', ''),
        msg.execute(''),
        msg.sync(),
      ]),
    );
    const first = await raw.untilReady();
    // 1/0 is folded at planning, so Bind already fails.
    expect(codes(first)).toBe('1EZ');
    expect(errorFields(first[1]?.body as Buffer).C).toBe('22012');
    const second = await raw.untilReady();
    expect(codes(second)).toBe('12DCZ');
  });

  it('FunctionCall returns FunctionCallResponse', async () => {
    const raw = await session();
    raw.write(queryMessage("select 'int4pl'::regproc::oid::text"));
    const oid = Number(
      text(dataRowColumns((await raw.untilReady()).find((m) => m.code === 'D')?.body as Buffer)[0]),
    );
    const a = Buffer.alloc(4);
    a.writeInt32BE(40);
    const b = Buffer.alloc(4);
    b.writeInt32BE(2);
    raw.write(msg.functionCall(oid, [a, b]));
    const reply = await raw.untilReady();
    expect(codes(reply)).toBe('VZ');
    const body = reply[0]?.body as Buffer;
    expect(body.readInt32BE(0)).toBe(4);
    expect(body.readInt32BE(4)).toBe(42);
  });

  it('ParameterStatus on SET, EmptyQueryResponse, NoticeResponse', async () => {
    const raw = await session();
    raw.write(queryMessage("set application_name = 'renamed'"));
    const set = await raw.untilReady();
    expect(codes(set)).toBe('CSZ');
    expect(set[1]?.body.toString()).toBe('application_name\0renamed\0');

    raw.write(queryMessage(''));
    expect(codes(await raw.untilReady())).toBe('IZ');

    raw.write(queryMessage("do $$ begin raise notice 'note %', 1; end $$"));
    const notice = await raw.untilReady();
    expect(codes(notice)).toBe('NCZ');
    expect(errorFields(notice[0]?.body as Buffer)).toMatchObject({ S: 'NOTICE', C: '00000', M: 'note 1' });
  });

  it('COPY FROM STDIN: CopyFail aborts with 57014, CopyDone commits', async () => {
    const raw = await session();
    raw.write(queryMessage('copy sink from stdin'));
    expect((await raw.next())?.code).toBe('G');
    raw.write(Buffer.concat([msg.copyData('discarded\n'), msg.copyFail('client gave up')]));
    const failed = await raw.untilReady();
    expect(codes(failed)).toBe('EZ');
    expect(errorFields(failed[0]?.body as Buffer)).toMatchObject({
      C: '57014',
      M: 'COPY from stdin failed: client gave up',
    });

    raw.write(queryMessage('copy sink from stdin'));
    expect((await raw.next())?.code).toBe('G');
    raw.write(Buffer.concat([msg.copyData('kept 1\nkept 2\n'), msg.copyDone()]));
    const done = await raw.untilReady();
    expect(codes(done)).toBe('CZ');
    expect(done[0]?.body.toString()).toBe('COPY 2\0');
    expect(await cluster().psql("select string_agg(line, ',' order by line) from sink")).toBe(
      'kept 1,kept 2',
    );
  });

  it('CopyData has its own size limit: above --max-message-size passes, above --max-copy-data-size is refused', async () => {
    const raw = await session();
    raw.write(queryMessage('copy sink from stdin'));
    expect((await raw.next())?.code).toBe('G');
    // 1.5 MiB in one CopyData: over the 1 MiB message limit, under the 2 MiB CopyData limit.
    const line = `${'y'.repeat(1.5 * 1024 * 1024)}\n`;
    raw.write(Buffer.concat([msg.copyData(line), msg.copyDone()]));
    expect(codes(await raw.untilReady())).toBe('CZ');
    expect(await cluster().psql('select max(length(line)) from sink')).toBe(String(1.5 * 1024 * 1024));

    raw.write(queryMessage('copy sink from stdin'));
    expect((await raw.next())?.code).toBe('G');
    raw.write(msg.copyData(Buffer.alloc(3 * 1024 * 1024, 0x7a)));
    const refused = await raw.drainUntilClosed();
    expect(codes(refused)).toBe('E');
    expect(errorFields(refused[0]?.body as Buffer)).toMatchObject({
      S: 'FATAL',
      C: '08P01',
      M: `pgwarden: d message of ${3 * 1024 * 1024 + 5} bytes exceeds the limit of ${2 * 1024 * 1024} bytes`,
    });
  });

  it('Terminate ends the upstream session too', async () => {
    const raw = await session();
    raw.write(queryMessage("set application_name = 'to-terminate'"));
    await raw.untilReady();
    expect(
      await cluster().psql("select count(*) from pg_stat_activity where application_name = 'to-terminate'"),
    ).toBe('1');
    raw.write(msg.terminate());
    await raw.closed;
    await waitFor('the upstream backend to exit', async () => {
      return (
        (await cluster().psql(
          "select count(*) from pg_stat_activity where application_name = 'to-terminate'",
        )) === '0'
      );
    });
  });

  it('a client closing without Terminate ends the upstream session too', async () => {
    const raw = await session();
    raw.write(queryMessage("set application_name = 'to-drop'"));
    await raw.untilReady();
    raw.destroy();
    await waitFor('the upstream backend to exit', async () => {
      return (
        (await cluster().psql("select count(*) from pg_stat_activity where application_name = 'to-drop'")) ===
        '0'
      );
    });
  });

  it('the proxy issues its own cancel keys: a made-up key cancels nothing', async () => {
    const p = await startTestProxy(cluster());
    try {
      const busy = await session(p.port);
      busy.write(queryMessage('select pg_sleep(1)::text'));
      const cancel = Buffer.alloc(16);
      cancel.writeUInt32BE(16, 0);
      cancel.writeUInt32BE(80877102, 4);
      cancel.writeInt32BE(12345, 8);
      cancel.writeInt32BE(67890, 12);
      const other = await RawConnection.open(p.port);
      open.push(other);
      other.write(cancel);
      await other.closed;
      const reply = await busy.untilReady();
      expect(codes(reply)).toBe('TDCZ');
      const { values } = await p.metrics.cancelRequests.get();
      expect(values.find((v) => v.labels.outcome === 'unknown_key')?.value).toBe(1);
    } finally {
      await p.drain(1000);
    }
  });
});
