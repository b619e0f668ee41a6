import { STATEMENT_KINDS, type StatementFacts, type StatementKind } from '../analyze/facts.js';

export type Outcome = 'allow' | 'deny' | 'approve';

/** What the engine says about one statement (or one message). Frozen; the proxy may keep it. */
export interface Decision {
  readonly outcome: Outcome;
  /** The user rule's name, or a built-in rule's (crds BUILTIN_RULES). */
  readonly rule: string;
  /** For the agent: why, and what to do next. The proxy prefixes `pgwarden: denied by rule "<rule>": `. */
  readonly message: string;
  readonly kind: StatementKind;
}

export function decision(outcome: Outcome, rule: string, message: string, kind: StatementKind): Decision {
  return Object.freeze({ outcome, rule, message, kind });
}

/** "a write statement", "an admin statement". */
export function aStatementOf(kind: string): string {
  return `${/^[aeio]/.test(kind) ? 'an' : 'a'} ${kind} statement`;
}

/** A built-in rule: a decision when it applies to the statement, else null (the next rule decides). */
export type Guard = (facts: StatementFacts) => Decision | null;

/** One frozen value per statement kind, built once, so deciding allocates nothing. */
export function byKind<T>(make: (kind: StatementKind) => T): Readonly<Record<StatementKind, T>> {
  return Object.freeze(
    Object.fromEntries(STATEMENT_KINDS.map((k) => [k, make(k)])) as Record<StatementKind, T>,
  );
}
