import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, ensureParserLoaded } from '../../src/analyze/parser.js';
import { type MaskingMode, type MaskVerdict, NO_MASKS, resolveMasks } from '../../src/mask/resolve.js';
import { SensitiveCatalog } from '../../src/mask/sensitive-catalog.js';
import type { MaskStrategy } from '../../src/mask/strategies.js';
import { maskedRelation, statementFacts } from './support.js';

const PARTIAL: MaskStrategy = { strategy: 'partial', keepFirst: 0, keepLast: 4 };
const REDACT: MaskStrategy = { strategy: 'redact' };
const SSN = 'public.customers.ssn';
const EMAIL = 'public.customers.email';

// public.orders is not masked, so it is not in the catalog.
const catalog = new SensitiveCatalog();
catalog.add(
  maskedRelation(100, 'public.customers', ['id', 'name', 'ssn', 'email'], { ssn: PARTIAL, email: REDACT }),
);
catalog.add(maskedRelation(200, 'billing.cards', ['id', 'customer_id', 'number'], { number: REDACT }));
// A view whose rows depend on a masked column (WHERE ssn LIKE …): no column of it is masked.
catalog.add(maskedRelation(300, 'public.ssn_holders', ['id', 'name'], {}, SSN));

const MASK_ALLOW: MaskingMode = { derived: 'mask', predicates: 'allow' };
const MASK_DENY: MaskingMode = { derived: 'mask', predicates: 'deny' };
const DENY_ALL: MaskingMode = { derived: 'deny', predicates: 'deny' };

beforeAll(async () => {
  await ensureParserLoaded();
});

function verdict(sql: string, mode: MaskingMode = MASK_ALLOW): MaskVerdict {
  return resolveMasks(statementFacts(analyze, sql), catalog, mode);
}

/** The result masks in short: null, "column:<masked column>", "derived:<source>". */
function outputs(sql: string, mode: MaskingMode = MASK_ALLOW): (string | null)[] | null {
  const v = verdict(sql, mode);
  if (!v.ok) throw new Error(`${sql} refused: ${v.rule} ${v.column}`);
  return (
    v.masks.outputs?.map((o) =>
      o === null ? null : o.kind === 'column' ? `column:${o.column.name}` : `derived:${o.source}`,
    ) ?? null
  );
}

function refusal(sql: string, mode: MaskingMode): { rule: string; column: string } | null {
  const v = verdict(sql, mode);
  return v.ok ? null : { rule: v.rule, column: v.column };
}

describe('statements without masked relations', () => {
  it.each([
    'SELECT * FROM orders',
    'SELECT ssn FROM orders WHERE ssn = $1',
    'COPY orders TO STDOUT',
    'INSERT INTO orders SELECT * FROM orders',
  ])('%s: the shared unmasked verdict', (sql) => {
    const v = verdict(sql, DENY_ALL);
    expect(v).toEqual({ ok: true, masks: NO_MASKS });
    expect(v.ok && v.masks).toBe(NO_MASKS);
  });
});

describe('direct columns keep their strategy', () => {
  it('by position, with unmasked columns null', () => {
    expect(outputs('SELECT id, ssn, name, email FROM customers')).toEqual([
      null,
      `column:${SSN}`,
      null,
      `column:${EMAIL}`,
    ]);
  });

  it('the column carries the strategy of its rule', () => {
    const v = verdict('SELECT ssn, email FROM customers');
    expect(v.ok && v.masks.outputs?.map((o) => o?.kind === 'column' && o.column.strategy)).toEqual([
      PARTIAL,
      REDACT,
    ]);
  });

  it.each([
    'SELECT c.ssn FROM customers c',
    'SELECT customers.ssn FROM customers',
    'SELECT public.customers.ssn FROM public.customers',
    'SELECT ssn FROM public.customers',
    'SELECT "ssn" FROM "customers"',
    'SELECT ssn AS x FROM customers',
  ])('%s', (sql) => {
    expect(outputs(sql)).toEqual([`column:${SSN}`]);
  });

  it('a qualifier names its own relation: o.ssn of an unmasked alias next to customers', () => {
    expect(outputs('SELECT c.ssn, k.number FROM customers c JOIN billing.cards k ON true')).toEqual([
      `column:${SSN}`,
      'column:billing.cards.number',
    ]);
    // ssn of cards is no masked column; number of customers neither.
    expect(outputs('SELECT k.ssn, c.number FROM customers c JOIN billing.cards k ON true')).toEqual([
      null,
      null,
    ]);
  });

  it('an alias hides the table name: customers.ssn of an aliased table resolves like an unknown qualifier', () => {
    expect(outputs('SELECT customers.ssn FROM customers c')).toEqual([`column:${SSN}`]);
  });

  it('a table in another schema with the same bare name is masked too (search_path is not tracked)', () => {
    expect(outputs('SELECT number FROM cards')).toEqual(['column:billing.cards.number']);
  });

  it('a direct column through a CTE or subquery keeps its strategy, even under derived: deny', () => {
    expect(outputs('WITH x AS (SELECT ssn FROM customers) SELECT ssn FROM x', DENY_ALL)).toEqual([
      `column:${SSN}`,
    ]);
    expect(outputs('SELECT s FROM (SELECT ssn AS s FROM customers) sub', DENY_ALL)).toEqual([
      `column:${SSN}`,
    ]);
    expect(outputs('SELECT sub.s FROM (SELECT c.ssn AS s FROM customers c) sub', DENY_ALL)).toEqual([
      `column:${SSN}`,
    ]);
  });
});

describe('derived columns: masked whole or denied', () => {
  const derived = [
    'SELECT upper(ssn) FROM customers',
    "SELECT ssn || '' FROM customers",
    'SELECT substr(ssn, 1, 3) FROM customers',
    'SELECT ssn::text FROM customers',
    "SELECT coalesce(ssn, '') FROM customers",
    'SELECT row_to_json(c) FROM customers c',
    'SELECT to_jsonb(c.*) FROM customers c',
    'SELECT customers FROM customers',
    "SELECT string_agg(ssn, ',') FROM customers",
    'SELECT array_agg(ssn) FROM customers',
    "SELECT json_build_object('s', ssn) FROM customers",
    'SELECT (SELECT ssn FROM customers LIMIT 1)',
    'SELECT x.u FROM (SELECT upper(ssn) AS u FROM customers) x',
    'WITH x AS (SELECT lower(ssn) AS u FROM customers) SELECT u FROM x',
    'WITH x AS (SELECT ssn FROM customers) SELECT row_to_json(x) FROM x',
    'SELECT s FROM (SELECT ssn AS u FROM customers) s',
    'WITH a AS (SELECT ssn FROM customers), b AS (SELECT to_json(a) AS j FROM a) SELECT j FROM b',
    'SELECT name FROM orders UNION SELECT ssn FROM customers',
    'SELECT ssn FROM customers UNION SELECT name FROM orders',
    'WITH x AS (SELECT name AS s FROM orders UNION SELECT ssn FROM customers) SELECT s FROM x',
    'SELECT x.v FROM customers c, LATERAL (SELECT c.ssn || c.name AS v) x',
    'SELECT mode() WITHIN GROUP (ORDER BY ssn) FROM customers',
    "SELECT x.s FROM customers c, XMLTABLE('/r' PASSING xmlelement(name r, c.ssn) COLUMNS s text PATH '.') x",
  ];

  it.each(derived)('derived: mask → redacted: %s', (sql) => {
    const masks = outputs(sql);
    expect(masks).toHaveLength(1);
    expect(masks?.[0]).toMatch(/^derived:/);
  });

  it.each(derived)('derived: deny → refused: %s', (sql) => {
    expect(refusal(sql, { derived: 'deny', predicates: 'allow' })?.rule).toBe('masking-derived');
  });

  it('the refusal names the source column', () => {
    expect(refusal('SELECT upper(ssn) FROM customers', DENY_ALL)).toEqual({
      rule: 'masking-derived',
      column: SSN,
    });
  });

  it('a whole-row reference names the relation', () => {
    expect(outputs('SELECT row_to_json(c) FROM customers c')).toEqual([
      'derived:public.customers (whole row)',
    ]);
    expect(outputs('SELECT to_jsonb(c.*) FROM customers c')).toEqual(['derived:public.customers.*']);
  });

  it('computed columns of unmasked columns stay unmasked, next to a derived one', () => {
    expect(outputs("SELECT upper(name), id + 1, ssn || '' FROM customers")).toEqual([
      null,
      null,
      `derived:${SSN}`,
    ]);
  });

  it('a derived inner column that is never selected leaves the other columns unmasked', () => {
    expect(outputs('SELECT id FROM (SELECT id, upper(ssn) AS u FROM customers) s')).toEqual([null]);
  });
});

describe('stars', () => {
  it('* over a masked table: positions unknown, the RowDescription carries the table columns', () => {
    const v = verdict('SELECT * FROM customers', DENY_ALL);
    expect(v).toEqual({
      ok: true,
      masks: { outputs: null, conservative: false, touched: true, filtersOn: null, copy: null },
    });
  });

  it('* next to a derived column: computed columns are redacted', () => {
    const v = verdict("SELECT *, ssn || '' FROM customers");
    expect(v.ok && v.masks).toMatchObject({ outputs: null, conservative: true });
  });

  it('* over a subquery or CTE with a masked inner column is conservative, or refused under derived: deny', () => {
    for (const sql of [
      'SELECT * FROM (SELECT upper(ssn) FROM customers) s',
      'WITH x AS (SELECT ssn || name AS v FROM customers) SELECT x.* FROM x',
      'SELECT * FROM customers c, generate_series(1, length(c.ssn)) g',
    ]) {
      const v = verdict(sql);
      expect(v.ok && v.masks, sql).toMatchObject({ outputs: null, conservative: true });
      expect(refusal(sql, DENY_ALL)?.rule, sql).toBe('masking-derived');
    }
  });

  it('* over unmasked relations next to a masked one: touched, not conservative', () => {
    const v = verdict('SELECT o.* FROM orders o JOIN customers c ON true');
    expect(v.ok && v.masks).toMatchObject({ outputs: null, conservative: false, touched: true });
  });
});

describe('predicates on masked columns', () => {
  const predicates = [
    "SELECT id FROM customers WHERE ssn LIKE '1%'",
    'SELECT c.id FROM customers c JOIN orders o ON o.ssn = c.ssn',
    'SELECT c.id FROM customers c JOIN customers d USING (ssn)',
    'SELECT id FROM customers ORDER BY ssn',
    'SELECT id, ssn FROM customers ORDER BY 2',
    'SELECT ssn AS s FROM customers ORDER BY s',
    'SELECT ssn AS x FROM customers UNION SELECT name FROM orders ORDER BY x',
    'SELECT count(*) FROM customers GROUP BY ssn',
    'SELECT count(*) FROM customers HAVING max(ssn) > $1',
    "SELECT count(*) FILTER (WHERE ssn > '5') FROM customers",
    'SELECT rank() OVER (ORDER BY ssn) FROM customers',
    "SELECT id FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE ssn = '1')",
    "DELETE FROM customers WHERE ssn = '123-45-6789'",
    "EXPLAIN SELECT id FROM customers WHERE ssn = '1'",
    "DECLARE cur CURSOR FOR SELECT id FROM customers WHERE email LIKE '%@x.com'",
  ];

  it.each(predicates)('predicates: deny → refused: %s', (sql) => {
    expect(refusal(sql, MASK_DENY)?.rule).toBe('masking-predicates');
  });

  it.each(predicates)('predicates: allow → allowed: %s', (sql) => {
    expect(verdict(sql, MASK_ALLOW).ok).toBe(true);
  });

  it('the refusal names the column; allowed, the column is reported for views', () => {
    expect(refusal("SELECT id FROM customers WHERE ssn LIKE '1%'", MASK_DENY)).toEqual({
      rule: 'masking-predicates',
      column: SSN,
    });
    const v = verdict("SELECT id FROM customers WHERE ssn LIKE '1%'");
    expect(v.ok && v.masks).toMatchObject({ filtersOn: SSN, touched: true, outputs: [null] });
  });

  it('filters on unmasked columns of a masked table are allowed', () => {
    expect(outputs('SELECT ssn FROM customers WHERE id = 1 ORDER BY name', MASK_DENY)).toEqual([
      `column:${SSN}`,
    ]);
  });

  it('a view that filters on a masked column is an oracle: refused under predicates: deny', () => {
    expect(refusal('SELECT id FROM ssn_holders', MASK_DENY)).toEqual({
      rule: 'masking-predicates',
      column: `public.ssn_holders (filters on ${SSN})`,
    });
    expect(outputs('SELECT id FROM ssn_holders', MASK_ALLOW)).toEqual([null]);
  });
});

describe('writes of masked values', () => {
  it.each([
    'INSERT INTO orders (note) SELECT ssn FROM customers',
    'UPDATE orders o SET note = c.ssn FROM customers c WHERE o.customer_id = c.id',
    "UPDATE customers SET name = ssn || ''",
    'CREATE TABLE copy AS SELECT ssn FROM customers',
    'SELECT ssn INTO copy FROM customers',
    'CREATE VIEW v AS SELECT upper(ssn) FROM customers',
    'EXPLAIN ANALYZE CREATE TABLE copy AS SELECT ssn FROM customers',
  ])('%s → masking-write', (sql) => {
    expect(refusal(sql, { derived: 'mask', predicates: 'allow' })).toEqual({
      rule: 'masking-write',
      column: SSN,
    });
  });

  it('whole rows written name the relation', () => {
    expect(refusal('INSERT INTO orders SELECT * FROM customers', MASK_ALLOW)).toEqual({
      rule: 'masking-write',
      column: 'public.customers.*',
    });
    expect(refusal('INSERT INTO orders SELECT row_to_json(c) FROM customers c', MASK_ALLOW)).toEqual({
      rule: 'masking-write',
      column: 'public.customers (whole row)',
    });
  });

  it('writing constants into a masked column is allowed, and RETURNING is masked', () => {
    expect(outputs("INSERT INTO customers (ssn) VALUES ('000-00-0000') RETURNING id, ssn", DENY_ALL)).toEqual(
      [null, `column:${SSN}`],
    );
    expect(outputs("UPDATE customers SET ssn = '1' WHERE id = 2 RETURNING upper(ssn)")).toEqual([
      `derived:${SSN}`,
    ]);
  });

  it('a data-modifying CTE’s RETURNING reaches the result', () => {
    expect(outputs('WITH d AS (DELETE FROM customers WHERE id = 1 RETURNING ssn) SELECT ssn FROM d')).toEqual(
      [`column:${SSN}`],
    );
  });
});

describe('COPY … TO', () => {
  const copyOf = (sql: string) => {
    const v = verdict(sql, MASK_ALLOW);
    if (!v.ok) throw new Error(`${sql} refused: ${v.rule}`);
    return v.masks.copy;
  };

  it('masks the fields of masked columns by position, in text and CSV', () => {
    const all = copyOf('COPY customers TO STDOUT');
    expect(all?.format).toMatchObject({ kind: 'text', delimiter: '\t', nullString: '\\N', header: false });
    expect(all?.columns.map((c) => c?.strategy.strategy ?? null)).toEqual([null, null, 'partial', 'redact']);
    const listed = copyOf('COPY public.customers (id, email) TO STDOUT WITH (FORMAT csv, HEADER)');
    expect(listed?.format).toMatchObject({ kind: 'csv', header: true, delimiter: ',' });
    expect(listed?.columns.map((c) => c !== null)).toEqual([false, true]);
    expect(copyOf('COPY (SELECT id, upper(ssn) FROM customers) TO STDOUT')?.columns).toEqual([
      null,
      { strategy: { strategy: 'redact' }, typeOid: 25 },
    ]);
  });

  it.each([
    ['COPY customers TO STDOUT (FORMAT binary)', 'binary COPY'],
    ['COPY (SELECT ssn FROM customers) TO STDOUT (FORMAT binary)', 'binary COPY'],
    ['COPY (SELECT * FROM customers) TO STDOUT', 'list the columns'],
  ])('%s → masking-copy', (sql, because) => {
    const r = refusal(sql, MASK_ALLOW);
    expect(r?.rule).toBe('masking-copy');
    expect(r?.column).toContain(because);
  });

  it('COPY of unmasked columns of a masked table needs no rewriting', () => {
    expect(copyOf('COPY customers (id, name) TO STDOUT')).toBeNull();
    expect(copyOf('COPY (SELECT id, name FROM customers) TO STDOUT')).toBeNull();
  });

  it('COPY FROM a masked table is a write of constants: allowed', () => {
    expect(verdict('COPY customers FROM STDIN', DENY_ALL).ok).toBe(true);
  });
});

describe('touched: errors of the statement are redacted', () => {
  it('a statement naming a masked relation is touched even when it selects no masked column', () => {
    const v = verdict("INSERT INTO customers (id, ssn) VALUES (1, '123-45-6789')");
    expect(v.ok && v.masks).toMatchObject({ outputs: null, touched: true });
  });
});
