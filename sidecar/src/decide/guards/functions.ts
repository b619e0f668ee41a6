import { type BuiltinRuleName, DEFAULT_FUNCTION_DENY_LIST } from '@pgwarden/crds';
import type { StatementFacts } from '../../analyze/facts.js';
import { decision, type Guard } from '../decision.js';
import { namePatternRegExp } from '../name-patterns.js';

const REASONS = new Map(DEFAULT_FUNCTION_DENY_LIST.map((f) => [f.pattern, f.reason]));

/**
 * function-deny-list: calls of the denied functions, unless the policy's
 * allowFunctions exempts them. Runs before the rules, so no rule can allow them.
 */
export function functionGuard(denyList: readonly string[], allowFunctions: readonly string[]): Guard {
  const denied = namePatternRegExp(denyList);
  const exempt = namePatternRegExp(allowFunctions);
  return (facts) => {
    for (let f: StatementFacts | null = facts; f !== null; f = f.inner) {
      for (const fn of f.functions) {
        if (denied.test(fn) && !exempt.test(fn)) {
          return decision(
            'deny',
            'function-deny-list' satisfies BuiltinRuleName,
            `${fn}() is on pgwarden's default function deny list: it ${reasonFor(fn, denyList)}; only the policy owner can exempt it (spec.allowFunctions)`,
            facts.kind,
          );
        }
      }
    }
    return null;
  };
}

/** The deny path only: which entry matched, for the message. */
function reasonFor(fn: string, denyList: readonly string[]): string {
  const pattern = denyList.find((p) => namePatternRegExp([p]).test(fn));
  return (
    (pattern !== undefined ? REASONS.get(pattern) : undefined) ??
    'reaches outside what policy rules can govern'
  );
}
