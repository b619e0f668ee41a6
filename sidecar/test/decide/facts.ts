import { BLANK_FACTS, type StatementFacts } from '../../src/analyze/facts.js';

/** Facts of a plain statement of `kind` with nothing special about it, overridden by `more`. */
export function facts(kind: StatementFacts['kind'], more: Partial<StatementFacts> = {}): StatementFacts {
  return { ...BLANK_FACTS, kind, nodeType: 'TestStmt', ...more };
}

/** A SET of `name` to `value` (null: RESET / DEFAULT). */
export function setting(
  name: string,
  value: string | null,
  via: 'set' | 'reset' | 'set_config' | 'transaction' = 'set',
): StatementFacts {
  return facts(name === 'role' || name === 'session_authorization' ? 'dcl' : 'session', {
    settings: [{ name, value, local: false, via }],
  });
}
