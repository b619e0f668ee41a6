import type { BuiltinRuleName, CompiledPolicy } from '@pgwarden/crds';
import type { StatementFacts, StatementKind } from '../analyze/facts.js';
import { aStatementOf, byKind, type Decision, decision, type Guard } from './decision.js';
import { copyGuard } from './guards/copy.js';
import { functionGuard } from './guards/functions.js';
import { readOnlyGuard } from './guards/read-only.js';
import { settingsGuard } from './guards/settings.js';
import { RuleMatcher } from './rules.js';

const DEFAULT_DENY = byKind((kind) =>
  decision(
    'deny',
    'default-deny' satisfies BuiltinRuleName,
    `no rule allows ${aStatementOf(kind)}; ask the policy owner for a rule that covers it`,
    kind,
  ),
);

/** An empty Query: PostgreSQL answers it with EmptyQueryResponse, nothing runs. */
const EMPTY_MESSAGE = decision(
  'allow',
  'empty-message' satisfies BuiltinRuleName,
  'the message holds no statement',
  'utility',
);

/**
 * Decides statements from their facts under one compiled policy: built-in
 * rules first (unknown-kind, guarded-setting, copy-server-file,
 * function-deny-list, read-only-access), then the policy's rules, first match
 * wins, then default-deny. Synchronous and allocation-free on the allow path:
 * the proxy calls it for every statement.
 */
export class PolicyEngine {
  private readonly guards: readonly Guard[];
  private readonly rules: readonly RuleMatcher[];

  constructor(readonly policy: CompiledPolicy) {
    const guards: Guard[] = [
      settingsGuard(policy.access, policy.limits.statementTimeoutMs, policy.masking !== null),
      copyGuard,
      functionGuard(policy.functionDenyList, policy.allowFunctions),
    ];
    if (policy.access === 'read-only') guards.push(readOnlyGuard);
    this.guards = guards;
    this.rules = policy.rules.map((rule) => new RuleMatcher(rule));
  }

  decide(facts: StatementFacts): Decision {
    const fallback = DEFAULT_DENY[facts.kind];
    // A kind from a newer classifier: no guard or rule was written with it in mind.
    if (fallback === undefined) return unknownKind(facts.kind);
    for (const guard of this.guards) {
      const d = guard(facts);
      if (d !== null) return d;
    }
    for (const rule of this.rules) {
      const d = rule.decide(facts);
      if (d !== null) return d;
    }
    return fallback;
  }

  /**
   * A message's statements run together or not at all: the first denied
   * statement denies the message; otherwise the first that needs approval
   * holds it; otherwise it is allowed (with the first statement's decision).
   */
  decideMessage(statements: readonly StatementFacts[]): Decision {
    let first: Decision | null = null;
    let approval: Decision | null = null;
    for (const facts of statements) {
      const d = this.decide(facts);
      if (d.outcome === 'deny') return d;
      if (d.outcome === 'approve' && approval === null) approval = d;
      first ??= d;
    }
    return approval ?? first ?? EMPTY_MESSAGE;
  }
}

function unknownKind(kind: StatementKind): Decision {
  return decision(
    'deny',
    'unknown-kind' satisfies BuiltinRuleName,
    `statement kind "${kind}" is unknown to this version of the policy engine, so it is denied; upgrade pgwarden`,
    kind,
  );
}
