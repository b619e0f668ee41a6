import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, ensureParserLoaded } from '../../src/analyze/parser.js';
import { type MaskingMode, resolveMasks } from '../../src/mask/resolve.js';
import { type AllowedStatement, ResultMasking } from '../../src/mask/result-masking.js';
import { SensitiveCatalog } from '../../src/mask/sensitive-catalog.js';
import { TypeOid } from '../../src/mask/type-families.js';
import { BackendCode, FrontendCode } from '../../src/wire/codes.js';
import { DROP } from '../../src/wire/framer.js';
import {
  backend,
  dataRow,
  errorResponse,
  type FieldSpec,
  frontend,
  rowDescription,
  rowTexts,
} from './messages.js';
import { maskedRelation } from './support.js';

const CUSTOMERS = 100;
const catalog = new SensitiveCatalog();
catalog.add(
  maskedRelation(CUSTOMERS, 'public.customers', ['id', 'name', 'ssn'], {
    ssn: { strategy: 'partial', keepFirst: 0, keepLast: 4 },
  }),
);
const MODE: MaskingMode = { derived: 'mask', predicates: 'allow' };
const SSN = '123-45-6789';
const MASKED = '***-**-6789';

beforeAll(async () => {
  await ensureParserLoaded();
});

/** What the gate would pass along: each statement's facts and masks (and a DECLARE's query's). */
function allowed(sql: string): AllowedStatement[] {
  const analysis = analyze(sql);
  if (!analysis.ok) throw new Error(analysis.error.message);
  return analysis.statements.map(({ facts }) => {
    const result = resolveMasks(facts, catalog, MODE);
    const inner =
      facts.inner && facts.defines?.kind === 'cursor' ? resolveMasks(facts.inner, catalog, MODE) : null;
    if (!result.ok || (inner && !inner.ok)) throw new Error(`${sql} refused`);
    return { facts, masks: result.masks, innerMasks: inner?.ok ? inner.masks : null };
  });
}

/** One session: client messages through sent(), server messages through wantsWhole()/received(). */
class Session {
  schemaChanges = 0;
  maskedRows = 0;
  readonly masking = new ResultMasking({
    catalog: () => catalog,
    detectors: [],
    schemaChanged: () => {
      this.schemaChanges++;
    },
    rowMasked: () => {
      this.maskedRows++;
    },
  });

  /** Sends a client message; returns what goes upstream. */
  send(message: Buffer, statements: readonly AllowedStatement[] = []): Buffer {
    return this.masking.sent(message[0] as number, message, 0, message.length, statements) ?? message;
  }

  query(sql: string): Buffer {
    return this.send(frontend.query(sql), allowed(sql));
  }

  parse(name: string, sql: string): Buffer {
    return this.send(frontend.parse(name, sql), allowed(sql));
  }

  /** Server messages in order; returns what the client receives (dropped ones left out). */
  receive(...messages: Buffer[]): Buffer[] {
    const out: Buffer[] = [];
    for (const m of messages) {
      const code = m[0] as number;
      if (!this.masking.wantsWhole(code)) {
        out.push(m);
        continue;
      }
      const replaced = this.masking.received(code, m, 0, m.length);
      if (replaced === DROP) continue;
      out.push(replaced ?? m);
    }
    return out;
  }
}

const TABLE_SSN: FieldSpec = { name: 'ssn', tableOid: CUSTOMERS, attnum: 3, typeOid: TypeOid.text };
const TABLE_NAME: FieldSpec = { name: 'name', tableOid: CUSTOMERS, attnum: 2, typeOid: TypeOid.text };
const COMPUTED: FieldSpec = { name: 'x', typeOid: TypeOid.text };

/** The text values of the DataRows among `messages`. */
function rows(messages: readonly Buffer[]): (string | null)[][] {
  return messages.filter((m) => m[0] === BackendCode.DataRow).map(rowTexts);
}

function codes(messages: readonly Buffer[]): string[] {
  return messages.map((m) => String.fromCharCode(m[0] as number));
}

describe('simple Query', () => {
  it('each statement of a multi-statement Query is masked with its own masks', () => {
    const s = new Session();
    s.query(
      "SELECT upper(ssn) FROM customers; SELECT upper(name) FROM customers; SELECT 'x' || ssn FROM customers",
    );
    const out = s.receive(
      rowDescription([COMPUTED]),
      dataRow([SSN]),
      backend.commandComplete('SELECT 1'),
      rowDescription([COMPUTED]),
      dataRow(['ADA']),
      backend.commandComplete('SELECT 1'),
      rowDescription([COMPUTED]),
      dataRow([`x${SSN}`]),
      backend.commandComplete('SELECT 1'),
      backend.readyForQuery(),
    );
    expect(rows(out)).toEqual([['[redacted]'], ['ADA'], ['[redacted]']]);
  });

  it('a statement without rows still moves to the next statement', () => {
    const s = new Session();
    s.query("SET application_name = 'a'; SELECT upper(ssn) FROM customers");
    const out = s.receive(
      backend.commandComplete('SET'),
      rowDescription([COMPUTED]),
      dataRow([SSN]),
      backend.commandComplete('SELECT 1'),
      backend.readyForQuery(),
    );
    expect(rows(out)).toEqual([['[redacted]']]);
  });

  it('table columns are masked through the catalog, whatever the statement', () => {
    const s = new Session();
    s.query('SELECT * FROM customers');
    const out = s.receive(
      rowDescription([TABLE_NAME, TABLE_SSN]),
      dataRow(['Ada', SSN]),
      backend.commandComplete('SELECT 1'),
      backend.readyForQuery(),
    );
    expect(rows(out)).toEqual([['Ada', MASKED]]);
  });

  it('an error ends the Query: the next Query uses its own masks', () => {
    const s = new Session();
    s.query('SELECT upper(ssn) FROM customers; SELECT upper(name) FROM customers');
    s.receive(
      errorResponse([
        ['S', 'ERROR'],
        ['M', 'boom'],
      ]),
      backend.readyForQuery(),
    );
    s.query('SELECT upper(ssn) FROM customers');
    const out = s.receive(rowDescription([COMPUTED]), dataRow([SSN]), backend.commandComplete('SELECT 1'));
    expect(rows(out)).toEqual([['[redacted]']]);
  });
});

describe('extended protocol', () => {
  it('Parse/Bind/Describe(P)/Execute/Sync: rows masked by the prepared statement’s masks', () => {
    const s = new Session();
    s.parse('s1', 'SELECT upper(ssn), name FROM customers');
    s.send(frontend.bind('', 's1'));
    s.send(frontend.describePortal(''));
    const upstream = s.send(frontend.execute(''));
    s.send(frontend.sync());
    expect(codes([upstream])).toEqual(['E']);
    const out = s.receive(
      backend.parseComplete(),
      backend.bindComplete(),
      rowDescription([COMPUTED, TABLE_NAME]),
      dataRow([SSN, 'Ada']),
      backend.commandComplete('SELECT 1'),
      backend.readyForQuery(),
    );
    expect(codes(out)).toEqual(['1', '2', 'T', 'D', 'C', 'Z']);
    expect(rows(out)).toEqual([['[redacted]', 'Ada']]);
  });

  it('an Execute the client did not describe gets a Describe first, whose answer is dropped', () => {
    const s = new Session();
    s.parse('', 'SELECT upper(ssn) FROM customers');
    s.send(frontend.bind('', ''));
    const upstream = s.send(frontend.execute(''));
    s.send(frontend.sync());
    expect(upstream).toEqual(Buffer.concat([frontend.describePortal(''), frontend.execute('')]));
    const out = s.receive(
      backend.parseComplete(),
      backend.bindComplete(),
      rowDescription([COMPUTED]),
      dataRow([SSN]),
      backend.commandComplete('SELECT 1'),
      backend.readyForQuery(),
    );
    expect(codes(out)).toEqual(['1', '2', 'D', 'C', 'Z']);
    expect(rows(out)).toEqual([['[redacted]']]);
  });

  it('the injected Describe of a statement without rows: its NoData is dropped', () => {
    const s = new Session();
    s.parse('', "UPDATE customers SET name = 'x'");
    s.send(frontend.bind('', ''));
    s.send(frontend.execute(''));
    s.send(frontend.sync());
    const out = s.receive(
      backend.parseComplete(),
      backend.bindComplete(),
      backend.noData(),
      backend.commandComplete('UPDATE 1'),
      backend.readyForQuery(),
    );
    expect(codes(out)).toEqual(['1', '2', 'C', 'Z']);
  });

  it('a client NoData is forwarded', () => {
    const s = new Session();
    s.parse('', "UPDATE customers SET name = 'x'");
    s.send(frontend.bind('', ''));
    s.send(frontend.describePortal(''));
    s.send(frontend.execute(''));
    s.send(frontend.sync());
    const out = s.receive(
      backend.parseComplete(),
      backend.bindComplete(),
      backend.noData(),
      backend.commandComplete('UPDATE 1'),
      backend.readyForQuery(),
    );
    expect(codes(out)).toEqual(['1', '2', 'n', 'C', 'Z']);
  });

  it('a failed Parse does not replace the masks of the prepared statement of that name', () => {
    const s = new Session();
    s.parse('s1', 'SELECT upper(ssn) FROM customers');
    s.send(frontend.sync());
    s.receive(backend.parseComplete(), backend.readyForQuery());
    // The second Parse of s1 fails ("already exists"); its Bind and Execute are skipped up to Sync.
    s.parse('s1', 'SELECT upper(name) FROM customers');
    s.send(frontend.bind('', 's1'));
    s.send(frontend.execute(''));
    s.send(frontend.sync());
    s.receive(
      errorResponse([
        ['S', 'ERROR'],
        ['C', '42P05'],
      ]),
      backend.readyForQuery(),
    );
    s.send(frontend.bind('', 's1'));
    s.send(frontend.execute(''));
    s.send(frontend.sync());
    const out = s.receive(
      backend.bindComplete(),
      rowDescription([COMPUTED]),
      dataRow([SSN]),
      backend.commandComplete('SELECT 1'),
      backend.readyForQuery(),
    );
    expect(rows(out)).toEqual([['[redacted]']]);
  });

  it('a portal executed in parts: rows after PortalSuspended are masked too', () => {
    const s = new Session();
    s.parse('', 'SELECT upper(ssn) FROM customers');
    s.send(frontend.bind('p', ''));
    s.send(frontend.execute('p', 1));
    s.send(frontend.execute('p', 1));
    s.send(frontend.sync());
    const out = s.receive(
      backend.parseComplete(),
      backend.bindComplete(),
      rowDescription([COMPUTED]),
      dataRow([SSN]),
      backend.portalSuspended(),
      dataRow([SSN]),
      backend.commandComplete('SELECT 2'),
      backend.readyForQuery(),
    );
    expect(rows(out)).toEqual([['[redacted]'], ['[redacted]']]);
  });

  it('a portal executed again after a Sync inside a transaction (JDBC fetchSize) stays masked', () => {
    const s = new Session();
    s.parse('', 'SELECT upper(ssn) FROM customers');
    s.send(frontend.bind('C_1', ''));
    s.send(frontend.describePortal('C_1'));
    s.send(frontend.execute('C_1', 1));
    s.send(frontend.sync());
    s.receive(
      backend.parseComplete(),
      backend.bindComplete(),
      rowDescription([COMPUTED]),
      dataRow([SSN]),
      backend.portalSuspended(),
      backend.readyForQuery('T'),
    );
    s.send(frontend.execute('C_1', 1));
    s.send(frontend.sync());
    const out = s.receive(dataRow([SSN]), backend.commandComplete('SELECT 1'), backend.readyForQuery('T'));
    expect(rows(out)).toEqual([['[redacted]']]);
  });
});

describe('cursors', () => {
  it('FETCH takes the masks of the DECLAREd query once the DECLARE completed', () => {
    const s = new Session();
    s.query('DECLARE c CURSOR WITH HOLD FOR SELECT upper(ssn), name FROM customers; FETCH 1 FROM c');
    const out = s.receive(
      backend.commandComplete('DECLARE CURSOR'),
      rowDescription([COMPUTED, { name: 'name', typeOid: TypeOid.text }]),
      dataRow([SSN, 'Ada']),
      backend.commandComplete('FETCH 1'),
      backend.readyForQuery(),
    );
    expect(rows(out)).toEqual([['[redacted]', 'Ada']]);
  });

  it('a cursor pgwarden did not see declared: computed columns redacted, table columns by the catalog', () => {
    const s = new Session();
    s.query('FETCH 1 FROM elsewhere');
    const out = s.receive(
      rowDescription([COMPUTED, TABLE_NAME, TABLE_SSN]),
      dataRow(['anything', 'Ada', SSN]),
      backend.commandComplete('FETCH 1'),
      backend.readyForQuery(),
    );
    expect(rows(out)).toEqual([['[redacted]', 'Ada', MASKED]]);
  });

  it('after CLOSE, the cursor’s masks are forgotten: a later FETCH of that name is unknown', () => {
    const s = new Session();
    s.query('DECLARE c CURSOR WITH HOLD FOR SELECT name FROM customers');
    s.receive(backend.commandComplete('DECLARE CURSOR'), backend.readyForQuery());
    s.query('CLOSE c');
    s.receive(backend.commandComplete('CLOSE CURSOR'), backend.readyForQuery());
    s.query('FETCH 1 FROM c');
    const out = s.receive(rowDescription([COMPUTED]), dataRow(['x']), backend.commandComplete('FETCH 1'));
    expect(rows(out)).toEqual([['[redacted]']]);
  });
});

describe('schema changes', () => {
  it('DDL, DCL and procedural statements call schemaChanged when they complete, reads do not', () => {
    const s = new Session();
    s.query('CREATE TABLE t (a int); SELECT 1; GRANT SELECT ON t TO public');
    s.receive(backend.commandComplete('CREATE TABLE'));
    expect(s.schemaChanges).toBe(1);
    s.receive(
      rowDescription([{ typeOid: TypeOid.int4 }]),
      dataRow(['1']),
      backend.commandComplete('SELECT 1'),
    );
    expect(s.schemaChanges).toBe(1);
    s.receive(backend.commandComplete('GRANT'), backend.readyForQuery());
    expect(s.schemaChanges).toBe(2);
  });

  it('a DDL statement that fails changes nothing', () => {
    const s = new Session();
    s.query('DROP TABLE customers');
    s.receive(errorResponse([['S', 'ERROR']]), backend.readyForQuery());
    expect(s.schemaChanges).toBe(0);
  });

  it('extended protocol: the Execute’s CommandComplete counts', () => {
    const s = new Session();
    s.parse('', 'ALTER TABLE customers ADD COLUMN note text');
    s.send(frontend.bind('', ''));
    s.send(frontend.execute(''));
    s.send(frontend.sync());
    s.receive(backend.parseComplete(), backend.bindComplete(), backend.noData());
    expect(s.schemaChanges).toBe(0);
    s.receive(backend.commandComplete('ALTER TABLE'), backend.readyForQuery());
    expect(s.schemaChanges).toBe(1);
  });
});

describe('errors', () => {
  it('an error of a statement that touched masked columns has its quoted values redacted', () => {
    const s = new Session();
    s.query("INSERT INTO customers (ssn) VALUES ('123-45-6789')");
    const [err] = s.receive(
      errorResponse([
        ['S', 'ERROR'],
        ['D', `Key (ssn)=(${SSN}) already exists.`],
      ]),
    );
    expect(err?.toString('latin1')).toContain('Key (ssn)=([redacted])');
    expect(err?.toString('latin1')).not.toContain(SSN);
  });

  it('codes the masking does not track pass through', () => {
    const s = new Session();
    expect(s.masking.wantsWhole(BackendCode.ParameterStatus)).toBe(false);
    expect(s.send(frontend.sync())[0]).toBe(FrontendCode.Sync);
  });
});
