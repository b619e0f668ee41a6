import { beforeAll, describe, expect, it, vi } from 'vitest';
import { analyze, ensureParserLoaded } from '../../src/analyze/parser.js';

// Stands in for a parser upgrade that returns a statement node type the
// classifier's table does not list.
vi.mock('libpg-query', async (importOriginal) => {
  const original = await importOriginal<typeof import('libpg-query')>();
  return {
    ...original,
    parseSync: (sql: string) => {
      if (sql.startsWith('SELECT 1; FUTURE')) {
        return {
          stmts: [
            { stmt: { SelectStmt: {} }, stmt_len: 8 },
            { stmt: { FutureStmt: {} }, stmt_location: 10 },
          ],
        };
      }
      // A tree of a shape the classifier's code does not expect (a list that is not a list).
      if (sql === 'MALFORMED')
        return { stmts: [{ stmt: { VariableSetStmt: { kind: 'VAR_SET_VALUE', args: 5 } } }] };
      return original.parseSync(sql);
    },
  };
});

beforeAll(() => ensureParserLoaded());

describe('a statement node type missing from the table', () => {
  it('fails the whole analysis as unclassified, pointing at the statement', () => {
    expect(analyze('SELECT 1; FUTURE STATEMENT')).toEqual({
      ok: false,
      error: {
        reason: 'unclassified',
        message: 'pgwarden cannot classify FutureStmt statements',
        position: 11,
      },
    });
  });

  it('counts the position in characters', () => {
    expect(analyze('SELECT 1; FUTURE é')).toMatchObject({ ok: false, error: { position: 11 } });
  });

  it('fails closed when the classifier itself fails on a tree', () => {
    const analysis = analyze('MALFORMED');
    expect(analysis).toMatchObject({ ok: false, error: { reason: 'unclassified', position: 1 } });
    expect(!analysis.ok && analysis.error.message).toMatch(
      /^pgwarden failed to classify the statement: TypeError/,
    );
  });
});
