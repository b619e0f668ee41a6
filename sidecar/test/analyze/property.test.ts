import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, createAnalyzer, ensureParserLoaded } from '../../src/analyze/parser.js';
import { SINGLE_STATEMENTS } from './corpus.js';

beforeAll(() => ensureParserLoaded());

// A newline before each ';' ends any trailing line comment of the statement before it.
const SEPARATORS = ['\n;', '\n;\n', '\n;;\n', '\n ; \t'];

describe('concatenated corpus statements', () => {
  it('analyse to the statements, in order, each with the facts it has alone', () => {
    const uncached = createAnalyzer({ cacheCapacity: 0 });
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...SINGLE_STATEMENTS), { minLength: 1, maxLength: 8 }),
        fc.constantFrom(...SEPARATORS),
        (rows, separator) => {
          const analysis = uncached(rows.map((row) => row.sql).join(separator));
          if (!analysis.ok) throw new Error(JSON.stringify(analysis.error));
          expect(analysis.statements.map((s) => s.facts.kind)).toEqual(rows.map((row) => row.kind));
          analysis.statements.forEach((statement, index) => {
            const alone = analyze(rows[index]?.sql ?? '');
            expect(alone.ok && alone.statements[0]?.facts).toEqual(statement.facts);
            // Each statement's own text analyses to the same facts.
            const sliced = analyze(statement.sql);
            expect(sliced.ok && sliced.statements.map((s) => s.facts)).toEqual([statement.facts]);
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
