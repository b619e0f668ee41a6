import { describe, expect, it } from 'vitest';
import { RECOGNISED_TYPES } from '../../src/analyze/collect.js';
import { STATEMENT_TABLE } from '../../src/analyze/kinds.js';
import { BARE_FIELDS } from '../../src/analyze/walk.js';
import { readParserTypes } from './parser-types.js';

const { nodeTypes, fields } = readParserTypes();

describe('node types of the installed parser', () => {
  it('reads a plausible Node union', () => {
    expect(nodeTypes.length).toBeGreaterThan(250);
    expect(nodeTypes).toContain('SelectStmt');
    expect(nodeTypes).toContain('RangeVar');
  });

  it('has an explicit statement-table entry for every statement node type', () => {
    const statements = nodeTypes.filter((type) => type.endsWith('Stmt')).sort();
    expect(Object.keys(STATEMENT_TABLE).sort()).toEqual(statements);
  });

  it('only declares field names that cannot be mistaken for a node wrapper', () => {
    const capitalised = fields.filter((f) => f.owner !== 'ParseResult' && /^[A-Z]/.test(f.field));
    expect(capitalised).toEqual([]);
  });

  it('names every bare field holding a type the classifier recognises, or one whose fields it names', () => {
    const named = new Set<string>([...RECOGNISED_TYPES, ...Object.keys(BARE_FIELDS)]);
    const bare = fields.filter((f) => named.has(f.type) && f.type !== 'Node');
    const missing = bare.filter((f) => BARE_FIELDS[f.owner]?.[f.field] !== f.type);
    expect(missing).toEqual([]);
    // And nothing stale: every named field exists with that type.
    for (const [owner, byField] of Object.entries(BARE_FIELDS)) {
      for (const [field, type] of Object.entries(byField)) {
        expect(fields).toContainEqual({ owner, field, type });
      }
    }
  });
});
