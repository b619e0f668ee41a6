import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPERATOR_EXAMPLE, renderOperatorExample } from '../src/install/generate.js';

describe('install manifests', () => {
  it('examples/kubernetes/install/operator.yaml is what the code renders (run the generate script when this fails)', () => {
    expect(readFileSync(OPERATOR_EXAMPLE, 'utf8')).toBe(renderOperatorExample());
  });
});
