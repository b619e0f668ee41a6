import type { OidcClaimRule } from '@pgwarden/crds';

/** The first rule whose claims the token carries, each with exactly the rule's value; undefined when none does. */
export function firstMatchingRule<R extends { rule: OidcClaimRule }>(
  rules: readonly R[],
  claims: Readonly<Record<string, unknown>>,
): R | undefined {
  return rules.find(({ rule }) =>
    Object.entries(rule.claims).every(([name, expected]) => claimText(claims[name]) === expected),
  );
}

/**
 * Why no rule matched, for the refused client: every claim a rule checks,
 * with the value this token has for it (claims are not secrets: the client
 * holds the token).
 */
export function describeMismatch(
  rules: readonly { rule: OidcClaimRule }[],
  claims: Readonly<Record<string, unknown>>,
): string {
  const names = [...new Set(rules.flatMap(({ rule }) => Object.keys(rule.claims)))];
  const seen = names.map((name) => {
    const value = claimText(claims[name]);
    return `${name}=${value === undefined ? '(absent)' : JSON.stringify(value)}`;
  });
  return `no rule admits this token; the rules check ${names.join(', ')} and the token has ${seen.join(', ')}`;
}

/** A string claim as is, a number or boolean as its text; anything else never matches. */
function claimText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}
