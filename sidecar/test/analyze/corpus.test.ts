import { beforeAll, describe, expect, it } from 'vitest';
import { BLANK_FACTS, type StatementFacts } from '../../src/analyze/facts.js';
import { STATEMENT_TABLE } from '../../src/analyze/kinds.js';
import { analyze, ensureParserLoaded } from '../../src/analyze/parser.js';
import { CORPUS, type CorpusRow } from './corpus.js';

beforeAll(() => ensureParserLoaded());

const EMPTY = BLANK_FACTS;

/** The facts a row expects, with everything it leaves out at its empty value. */
function expected(row: CorpusRow): Record<string, unknown> {
  const { sql: _sql, statements: _statements, nodeType: _nodeType, ...facts } = row;
  const { columns: _columns, ...empty } = EMPTY;
  return { ...empty, ...facts };
}

/** The facts as a row states them: the inner statement by kind and node type only; column usage has its own tests. */
function comparable(facts: StatementFacts, row: CorpusRow): Record<string, unknown> {
  const { nodeType, inner, columns: _columns, ...rest } = facts;
  return {
    ...rest,
    inner: inner && { kind: inner.kind, nodeType: inner.nodeType },
    ...(row.nodeType === undefined ? {} : { nodeType }),
  };
}

describe('classifier corpus', () => {
  it('holds at least 250 statements', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(250);
  });

  it.each(CORPUS.map((row) => [row.sql.length > 90 ? `${row.sql.slice(0, 90)}…` : row.sql, row] as const))(
    '%s',
    (_name, row) => {
      const analysis = analyze(row.sql);
      if (!analysis.ok) throw new Error(`analysis failed: ${JSON.stringify(analysis.error)}`);
      const kinds = analysis.statements.map((s) => s.facts.kind);
      if (Array.isArray(row.kind)) {
        expect(kinds).toEqual(row.kind);
        if (row.statements) expect(analysis.statements.map((s) => s.sql)).toEqual(row.statements);
        return;
      }
      expect(analysis.statements).toHaveLength(1);
      const [statement] = analysis.statements;
      if (statement === undefined) return;
      expect(comparable(statement.facts, row)).toEqual({
        ...expected(row),
        ...(row.nodeType ? { nodeType: row.nodeType } : {}),
      });
    },
  );

  it('exercises every statement node type the table classifies', () => {
    const seen = new Set<string>();
    const visit = (facts: StatementFacts): void => {
      seen.add(facts.nodeType);
      if (facts.inner) visit(facts.inner);
    };
    for (const row of CORPUS) {
      const analysis = analyze(row.sql);
      if (analysis.ok) for (const statement of analysis.statements) visit(statement.facts);
    }
    const classified = Object.entries(STATEMENT_TABLE)
      .filter(([, resolver]) => resolver !== null)
      .map(([type]) => type);
    expect(classified.filter((type) => !seen.has(type))).toEqual([]);
  });
});
