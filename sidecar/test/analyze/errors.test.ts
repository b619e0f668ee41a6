import { beforeAll, describe, expect, it } from 'vitest';
import { classifyStatement } from '../../src/analyze/classify.js';
import { analyze, ensureParserLoaded } from '../../src/analyze/parser.js';
import { UnclassifiedStatement } from '../../src/analyze/unclassified.js';

beforeAll(() => ensureParserLoaded());

// Messages and positions as PostgreSQL 15's own server reports them (checked
// against a running server): 1-based, counted in characters, not bytes.
const PARSE_ERRORS: [sql: string, message: string, position: number][] = [
  ['SELEC 1', 'syntax error at or near "SELEC"', 1],
  ['SELECT * FROM', 'syntax error at end of input', 14],
  ["SELECT 'é' FRM x", 'syntax error at or near "x"', 16],
  ["SELECT '😀' FRM x", 'syntax error at or near "x"', 16],
  ['SELECT 1; SELEC 2; DELETE FROM t', 'syntax error at or near "SELEC"', 11],
  ["SELECT 'unterminated", `unterminated quoted string at or near "'unterminated"`, 8],
  ['SELECT $$abc', 'unterminated dollar-quoted string at or near "$$abc"', 8],
  ['DELETE FROM', 'syntax error at end of input', 12],
  ['CREATE TABLE (a int)', 'syntax error at or near "("', 14],
  ['SELECT 1 LIMIT 1 LIMIT 2', 'syntax error at or near "LIMIT"', 18],
  ["SELECT 1 FROM t WHERE a = 'x' AND", 'syntax error at end of input', 34],
  ['SELECT\n  1\n  FRM x', 'syntax error at or near "x"', 18],
  ["select 'a' 'b'", `syntax error at or near "'b'"`, 12],
  ['SELECT * FROM t WHERE x = 1e', 'trailing junk after numeric literal at or near "1e"', 27],
];

describe('statements that do not parse', () => {
  it.each(PARSE_ERRORS)('%s', (sql, message, position) => {
    expect(analyze(sql)).toEqual({ ok: false, error: { reason: 'parse', message, position } });
  });

  it('refuses text with a NUL character, which the C parser would cut short', () => {
    expect(analyze('SELECT 1\0; DROP TABLE t')).toEqual({
      ok: false,
      error: { reason: 'parse', message: 'query text contains a NUL character', position: 9 },
    });
  });

  it('refuses text that is not well-formed Unicode', () => {
    const analysis = analyze('SELECT 1 \uD800; DROP TABLE t');
    expect(analysis).toMatchObject({ ok: false, error: { reason: 'parse', position: null } });
  });

  it('classifies deep but readable trees, and refuses deeper ones without throwing', () => {
    const chain = analyze(`SELECT ${Array(5_000).fill('1').join(' + ')}`);
    expect(chain.ok && chain.statements.map((s) => s.facts.kind)).toEqual(['read']);
    const union = analyze(
      Array.from({ length: 3_000 }, (_, i) => `SELECT a FROM t${i % 3}`).join(' UNION ALL '),
    );
    expect(union.ok && union.statements[0]?.facts.tablesRead).toEqual(['t0', 't1', 't2']);
    expect(analyze(`SELECT ${Array(200_000).fill('1').join('+')}`)).toEqual({
      ok: false,
      error: { reason: 'parse', message: 'query is nested too deeply to analyze', position: null },
    });
    expect(analyze(`SELECT ${'('.repeat(100_000)}1${')'.repeat(100_000)}`)).toMatchObject({
      ok: false,
      error: { reason: 'parse', message: 'memory exhausted at or near "("' },
    });
  });
});

describe('statements the classifier does not know', () => {
  it.each([
    ['an unknown node type', { BrandNewStmt: {} }],
    ['a node type that never heads a statement', { ReturnStmt: {} }],
    ['the RawStmt wrapper itself', { RawStmt: { stmt: { SelectStmt: {} } } }],
    ['an unknown statement inside EXPLAIN', { ExplainStmt: { query: { BrandNewStmt: {} } } }],
    ['an unknown statement inside PREPARE', { PrepareStmt: { name: 'p', query: { BrandNewStmt: {} } } }],
    ['EXPLAIN without its statement', { ExplainStmt: {} }],
    ['an unknown SET form', { VariableSetStmt: { kind: 'VAR_SET_MULTI', name: 'SOMETHING NEW' } }],
    ['an unknown SET kind', { VariableSetStmt: { kind: 'VAR_SET_SOMEHOW', name: 'role' } }],
    ['not a node at all', 'SELECT 1'],
    ['a prototype property name', { constructor: {} }],
  ])('throws UnclassifiedStatement for %s', (_what, node) => {
    expect(() => classifyStatement(node)).toThrow(UnclassifiedStatement);
  });
});
