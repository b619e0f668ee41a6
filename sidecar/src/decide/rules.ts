import type { CompiledRule } from '@pgwarden/crds';
import type { StatementFacts, StatementKind } from '../analyze/facts.js';
import { aStatementOf, byKind, type Decision, decision } from './decision.js';
import { namePatternRegExp } from './name-patterns.js';

/** A policy rule with its patterns compiled and a frozen decision ready for every kind. */
export class RuleMatcher {
  private readonly kinds: ReadonlySet<StatementKind>;
  private readonly tables: RegExp | null;
  private readonly functions: RegExp | null;
  private readonly locks: boolean | null;
  private readonly every: boolean;
  private readonly decisions: Readonly<Record<StatementKind, Decision>>;

  constructor(rule: CompiledRule) {
    const { match } = rule;
    this.kinds = new Set(match.kinds);
    this.tables = match.tables.length > 0 ? namePatternRegExp(match.tables) : null;
    this.functions = match.functions.length > 0 ? namePatternRegExp(match.functions) : null;
    this.locks = match.locks;
    this.every = match.names === 'every';
    this.decisions = byKind((kind) =>
      decision(rule.action, rule.name, rule.message ?? defaultMessage(rule.action, kind), kind),
    );
  }

  /** The rule's decision when every condition it has holds, else null. */
  decide(f: StatementFacts): Decision | null {
    if (!this.kinds.has(f.kind)) return null;
    if (this.locks !== null && locks(f) !== this.locks) return null;
    if (this.tables !== null && !this.tablesMatch(f, this.tables)) return null;
    if (this.functions !== null && !this.functionsMatch(f, this.functions)) return null;
    return this.decisions[f.kind];
  }

  private tablesMatch(facts: StatementFacts, re: RegExp): boolean {
    let names = 0;
    let hits = 0;
    for (let f: StatementFacts | null = facts; f !== null; f = f.inner) {
      names += f.tablesRead.length + f.tablesWritten.length;
      hits += countMatches(re, f.tablesRead) + countMatches(re, f.tablesWritten);
    }
    return this.verdict(names, hits);
  }

  private functionsMatch(facts: StatementFacts, re: RegExp): boolean {
    let names = 0;
    let hits = 0;
    for (let f: StatementFacts | null = facts; f !== null; f = f.inner) {
      names += f.functions.length;
      hits += countMatches(re, f.functions);
    }
    return this.verdict(names, hits);
  }

  /** any: at least one name matches. every: there is at least one name, and all of them match. */
  private verdict(names: number, hits: number): boolean {
    return this.every ? names > 0 && hits === names : hits > 0;
  }
}

function countMatches(re: RegExp, names: readonly string[]): number {
  let n = 0;
  for (const name of names) if (re.test(name)) n++;
  return n;
}

function locks(facts: StatementFacts): boolean {
  for (let f: StatementFacts | null = facts; f !== null; f = f.inner) if (f.locksRows) return true;
  return false;
}

function defaultMessage(action: CompiledRule['action'], kind: StatementKind): string {
  switch (action) {
    case 'allow':
      return `the policy allows this ${kind} statement`;
    case 'deny':
      return `the policy does not allow this ${kind} statement; ask the policy owner if the task needs it`;
    case 'approve':
      return `${aStatementOf(kind)} like this needs a human's approval`;
  }
}
