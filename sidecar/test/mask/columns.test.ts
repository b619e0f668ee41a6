import { beforeAll, describe, expect, it } from 'vitest';
import type { ColumnRefFact, ColumnUsage } from '../../src/analyze/columns.js';
import { analyze, ensureParserLoaded } from '../../src/analyze/parser.js';
import { statementFacts } from './support.js';

beforeAll(async () => {
  await ensureParserLoaded();
});

function usage(sql: string): ColumnUsage {
  return statementFacts(analyze, sql).columns;
}

/** References as text ("c.ssn", "ssn", "c.*"), so expectations read like SQL. */
function names(refs: readonly ColumnRefFact[]): string[] {
  return refs.map((r) => (r.qualifier === null ? r.name : `${r.qualifier}.${r.name}`));
}

function outputs(sql: string): { direct: boolean; refs: string[] }[] | null {
  return usage(sql).outputs?.map((o) => ({ direct: o.direct, refs: names(o.refs).sort() })) ?? null;
}

describe('result columns by position', () => {
  it('a bare column is direct; an expression is computed; a constant has no references', () => {
    expect(outputs('SELECT ssn, upper(name) AS n, 1, c.email FROM customers c')).toEqual([
      { direct: true, refs: ['ssn'] },
      { direct: false, refs: ['name'] },
      { direct: false, refs: [] },
      { direct: true, refs: ['c.email'] },
    ]);
  });

  it('casts, coalesce, concatenation and CASE are computed', () => {
    for (const expr of ['ssn::text', "coalesce(ssn, '')", "ssn || ''", "CASE WHEN ssn > '1' THEN 1 END"]) {
      expect(outputs(`SELECT ${expr} FROM customers`), expr).toEqual([{ direct: false, refs: ['ssn'] }]);
    }
  });

  it('a scalar subquery in the list feeds its column, computed', () => {
    expect(outputs('SELECT (SELECT ssn FROM customers LIMIT 1), id FROM orders')).toEqual([
      { direct: false, refs: ['ssn'] },
      { direct: true, refs: ['id'] },
    ]);
  });

  it('a whole-row reference is kept as written: bare name or qualified star', () => {
    expect(outputs('SELECT row_to_json(c), to_jsonb(c.*) FROM customers c')).toEqual([
      { direct: false, refs: ['c'] },
      { direct: false, refs: ['c.*'] },
    ]);
  });

  it('a three-part reference keeps the table as qualifier', () => {
    expect(
      names(usage('SELECT public.customers.ssn FROM public.customers').outputs?.[0]?.refs ?? []),
    ).toEqual(['customers.ssn']);
  });

  it('UNION branches merge by position; direct only when every branch is a bare column', () => {
    expect(outputs('SELECT name, ssn FROM a UNION SELECT upper(ssn), email FROM b')).toEqual([
      { direct: false, refs: ['name', 'ssn'] },
      { direct: true, refs: ['email', 'ssn'] },
    ]);
    expect(outputs("SELECT ssn FROM a UNION ALL SELECT 'x'")).toEqual([{ direct: false, refs: ['ssn'] }]);
  });

  it("a UNION's columns are named by its first branch (what ORDER BY refers to)", () => {
    const names = usage(
      'SELECT ssn AS x FROM a UNION SELECT name FROM b INTERSECT SELECT email FROM c',
    ).outputs?.map((o) => o.name);
    expect(names).toEqual(['x']);
  });

  it('a statement without rows has no outputs', () => {
    expect(usage('CREATE TABLE t AS SELECT ssn FROM customers').outputs).toBeNull();
    expect(usage('INSERT INTO t SELECT ssn FROM customers').outputs).toBeNull();
    expect(usage('DELETE FROM customers').outputs).toBeNull();
  });
});

describe('stars', () => {
  it('* and t.* are recorded apart; the explicit columns keep their positions', () => {
    const u = usage('SELECT ssn, c.*, * FROM customers c');
    expect(names(u.stars)).toEqual(['c.*', '*']);
    expect(u.outputs?.[0]).toMatchObject({ direct: true });
  });

  it('TABLE t is a star', () => {
    expect(names(usage('TABLE customers').stars)).toEqual(['*']);
  });
});

describe('subquery and CTE columns', () => {
  it('CTE columns carry their names, direct or computed', () => {
    const u = usage('WITH x AS (SELECT ssn AS s, upper(name), email FROM customers) SELECT s FROM x');
    expect(u.inner.map((c) => ({ name: c.name, direct: c.direct, refs: names(c.refs) }))).toEqual([
      { name: 's', direct: true, refs: ['ssn'] },
      { name: null, direct: false, refs: ['name'] },
      { name: 'email', direct: true, refs: ['email'] },
    ]);
    expect(outputs('WITH x AS (SELECT ssn AS s FROM customers) SELECT s FROM x')).toEqual([
      { direct: true, refs: ['s'] },
    ]);
  });

  it('a column alias list renames the columns: their names become unknown', () => {
    const sql = 'SELECT t FROM (SELECT ssn AS s FROM customers) sub(t)';
    expect(usage(sql).inner.map((c) => c.name)).toEqual([null]);
    const cte = 'WITH x(t) AS (SELECT ssn FROM customers) SELECT t FROM x';
    expect(usage(cte).inner.map((c) => c.name)).toEqual([null]);
  });

  it('UNION branches inside a CTE merge by position under the first branch’s names', () => {
    const u = usage('WITH x AS (SELECT name AS s FROM a UNION SELECT ssn FROM b) SELECT s FROM x');
    expect(u.inner.map((c) => ({ name: c.name, refs: names(c.refs).sort() }))).toEqual([
      { name: 's', refs: ['name', 'ssn'] },
    ]);
  });

  it('a lateral subquery’s columns reference the outer relation', () => {
    const u = usage('SELECT x.v FROM customers c, LATERAL (SELECT c.ssn AS v) x');
    expect(u.inner.map((c) => ({ name: c.name, refs: names(c.refs) }))).toEqual([
      { name: 'v', refs: ['c.ssn'] },
    ]);
  });

  it('a function, XMLTABLE or JSON_TABLE in FROM is one unnamed computed column', () => {
    for (const from of [
      'generate_series(1, length(c.ssn)) g',
      "XMLTABLE('/r' PASSING xmlelement(name r, c.ssn) COLUMNS s text PATH '.') g",
      "JSON_TABLE(to_jsonb(c.ssn), '$' COLUMNS (s text PATH '$')) g",
    ]) {
      const u = usage(`SELECT g.* FROM customers c, ${from}`);
      expect(
        u.inner.map((c) => ({ name: c.name, direct: c.direct, refs: names(c.refs) })),
        from,
      ).toEqual([{ name: null, direct: false, refs: ['c.ssn'] }]);
      expect(u.filters, from).toEqual([]);
    }
  });

  it('a data-modifying CTE: its RETURNING list is the CTE’s columns', () => {
    const u = usage('WITH d AS (DELETE FROM customers WHERE id = 1 RETURNING ssn) SELECT ssn FROM d');
    expect(u.inner.map((c) => ({ name: c.name, refs: names(c.refs) }))).toEqual([
      { name: 'ssn', refs: ['ssn'] },
    ]);
    expect(names(u.filters)).toEqual(['id']);
    expect(u.relations.map((r) => r.name).sort()).toEqual(['customers', 'd']);
  });
});

describe('filters', () => {
  it.each([
    ["SELECT id FROM customers WHERE ssn LIKE '1%'", ['ssn']],
    ['SELECT a.id FROM a JOIN b ON a.ssn = b.ssn', ['a.ssn', 'b.ssn']],
    ['SELECT id FROM a JOIN b USING (id, ssn)', ['id', 'ssn']],
    ['SELECT count(*) FROM customers GROUP BY ssn HAVING count(email) > 1', ['email', 'ssn']],
    ['SELECT id FROM customers ORDER BY ssn', ['ssn']],
    ['SELECT DISTINCT ON (ssn) id FROM customers', ['ssn']],
    ["SELECT count(*) FILTER (WHERE ssn > '5') FROM customers", ['ssn']],
    ["SELECT string_agg(name, ',' ORDER BY ssn) FROM customers", ['ssn']],
    ['SELECT rank() OVER w FROM customers WINDOW w AS (ORDER BY ssn)', ['ssn']],
    ['SELECT row_number() OVER (PARTITION BY ssn) FROM customers', ['ssn']],
    ['SELECT id FROM customers LIMIT (SELECT length(ssn) FROM customers LIMIT 1)', ['ssn']],
    ["SELECT id FROM orders WHERE cid IN (SELECT id FROM customers WHERE ssn = 'x')", ['cid', 'id', 'ssn']],
    ["UPDATE customers SET name = 'x' WHERE ssn = 'y'", ['ssn']],
    ["DELETE FROM customers WHERE email = 'x'", ['email']],
  ])('%s', (sql, expected) => {
    const u = usage(sql);
    expect(names(u.filters.filter((r) => !r.name.startsWith('#'))).sort()).toEqual(expected);
  });

  it('a filter does not feed the output', () => {
    expect(outputs("SELECT count(*) FILTER (WHERE ssn > '5') FROM customers")).toEqual([
      { direct: false, refs: [] },
    ]);
  });

  it('WITHIN GROUP (ORDER BY x) feeds the output: mode() returns values of x', () => {
    expect(outputs('SELECT mode() WITHIN GROUP (ORDER BY ssn) FROM customers')).toEqual([
      { direct: false, refs: ['ssn'] },
    ]);
    expect(usage('SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ssn) FROM customers').filters).toEqual(
      [],
    );
  });

  it('ORDER BY and GROUP BY by position are references to that result column', () => {
    expect(names(usage('SELECT id, ssn FROM customers ORDER BY 2').filters)).toEqual(['#2']);
    expect(names(usage('SELECT ssn, count(*) FROM customers GROUP BY 1').filters)).toEqual(['#1']);
  });
});

describe('writes', () => {
  it.each([
    ['INSERT INTO t SELECT ssn FROM customers', ['ssn']],
    ['INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET b = excluded.ssn', ['excluded.ssn']],
    ['UPDATE t SET a = c.ssn FROM customers c WHERE t.id = c.id', ['c.ssn']],
    ['CREATE TABLE t AS SELECT ssn FROM customers', ['ssn']],
    ['SELECT ssn INTO t FROM customers', ['ssn']],
    ['CREATE VIEW v AS SELECT upper(ssn) FROM customers', ['ssn']],
    ['CREATE MATERIALIZED VIEW v AS SELECT ssn FROM customers', ['ssn']],
    ['EXPLAIN ANALYZE CREATE TABLE t AS SELECT ssn FROM customers', ['ssn']],
    ['EXPLAIN ANALYZE SELECT ssn INTO t FROM customers', ['ssn']],
    ['EXPLAIN ANALYZE INSERT INTO t SELECT ssn FROM customers', ['ssn']],
  ])('%s', (sql, expected) => {
    expect(names(usage(sql).writes)).toEqual(expected);
  });

  it('UPDATE SET of a constant writes no column; its WHERE is a filter', () => {
    const u = usage("UPDATE customers SET ssn = '000' WHERE id = 1");
    expect(u.writes).toEqual([]);
    expect(names(u.filters)).toEqual(['id']);
  });
});

describe('RETURNING', () => {
  it('INSERT, UPDATE and DELETE return their RETURNING list by position', () => {
    expect(outputs("INSERT INTO customers (ssn) VALUES ('1') RETURNING ssn, id")).toEqual([
      { direct: true, refs: ['ssn'] },
      { direct: true, refs: ['id'] },
    ]);
    expect(outputs("UPDATE customers SET name = 'x' RETURNING upper(ssn)")).toEqual([
      { direct: false, refs: ['ssn'] },
    ]);
    expect(outputs('DELETE FROM customers WHERE id = 1 RETURNING ssn')).toEqual([
      { direct: true, refs: ['ssn'] },
    ]);
  });

  it('RETURNING * is a star; RETURNING old.ssn keeps its qualifier', () => {
    expect(names(usage('DELETE FROM customers RETURNING *').stars)).toEqual(['*']);
    expect(outputs("UPDATE customers SET ssn = 'x' RETURNING old.ssn")).toEqual([
      { direct: true, refs: ['old.ssn'] },
    ]);
  });
});

describe('COPY', () => {
  it('COPY t TO names the relation and its column list', () => {
    expect(usage('COPY customers TO STDOUT').copiedRelation).toEqual({ name: 'customers', columns: [] });
    expect(usage('COPY public.customers (id, ssn) TO STDOUT').copiedRelation).toEqual({
      name: 'public.customers',
      columns: ['id', 'ssn'],
    });
  });

  it('COPY (SELECT …) TO has the query’s outputs; COPY FROM copies nothing out', () => {
    const u = usage('COPY (SELECT ssn FROM customers) TO STDOUT');
    expect(u.copiedRelation).toBeNull();
    expect(u.outputs?.map((o) => names(o.refs))).toEqual([['ssn']]);
    expect(usage('COPY customers FROM STDIN').copiedRelation).toBeNull();
  });
});

describe('DECLARE, PREPARE, EXPLAIN: the wrapped statement is a plan', () => {
  it.each([
    "DECLARE cur CURSOR FOR SELECT ssn FROM customers WHERE name = 'x'",
    "PREPARE p AS SELECT ssn FROM customers WHERE name = 'x'",
    "EXPLAIN SELECT ssn FROM customers WHERE name = 'x'",
  ])('%s: no outputs, no writes, the filters count', (sql) => {
    const u = usage(sql);
    expect(u.outputs).toBeNull();
    expect(u.stars).toEqual([]);
    expect(u.writes).toEqual([]);
    expect(names(u.filters)).toEqual(['name']);
  });

  it('a filter inside a subquery of the plan’s select list counts (EXPLAIN ANALYZE shows its row counts)', () => {
    const u = usage("EXPLAIN ANALYZE SELECT (SELECT count(*) FROM customers WHERE ssn LIKE '1%')");
    expect(names(u.filters)).toEqual(['ssn']);
  });

  it('the wrapped statement’s facts still have its outputs', () => {
    const facts = statementFacts(analyze, 'DECLARE cur CURSOR FOR SELECT ssn FROM customers');
    expect(facts.inner?.columns.outputs?.map((o) => names(o.refs))).toEqual([['ssn']]);
  });
});

describe('relations', () => {
  it('every relation with its alias, schema-qualified when written so', () => {
    expect(usage('SELECT 1 FROM public.customers c JOIN orders ON true').relations).toEqual([
      { name: 'public.customers', alias: 'c' },
      { name: 'orders', alias: null },
    ]);
  });

  it('a subquery in FROM is listed under its alias with an empty name', () => {
    expect(usage('SELECT s FROM (SELECT ssn FROM customers) s').relations).toEqual([
      { name: '', alias: 's' },
      { name: 'customers', alias: null },
    ]);
  });
});
