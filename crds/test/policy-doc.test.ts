import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { POLICY_DOC, regeneratePolicyDoc } from '../src/docs/generate.js';
import { replaceGeneratedBlocks } from '../src/docs/markdown-blocks.js';

describe('docs/policy.md', () => {
  it('is up to date with the schema (run pnpm generate)', () => {
    const current = readFileSync(POLICY_DOC, 'utf8');
    expect(regeneratePolicyDoc(current)).toBe(current);
  });
});

describe('generated Markdown blocks', () => {
  const doc = 'intro\n<!-- BEGIN GENERATED a (pnpm generate) -->\nold\n<!-- END GENERATED a -->\nend\n';

  it('replaces only the content between the markers', () => {
    expect(replaceGeneratedBlocks(doc, { a: 'new' })).toBe(
      'intro\n<!-- BEGIN GENERATED a (pnpm generate) -->\nnew\n<!-- END GENERATED a -->\nend\n',
    );
  });

  it('fails on a block without markers and on markers without a generator', () => {
    expect(() => replaceGeneratedBlocks(doc, { a: 'x', b: 'y' })).toThrow(
      'markers for generated block(s) b not found',
    );
    expect(() => replaceGeneratedBlocks(doc, {})).toThrow('generated block "a" has no generator');
  });
});
