import { STATEMENT_KINDS as API_KINDS } from '@pgwarden/crds';
import { describe, expect, it } from 'vitest';
import { STATEMENT_KINDS as FACT_KINDS } from '../../src/analyze/facts.js';

describe('statement kinds', () => {
  it('are the same list, in the same order, in the API (crds) and the facts contract', () => {
    expect([...FACT_KINDS]).toEqual([...API_KINDS]);
  });
});
