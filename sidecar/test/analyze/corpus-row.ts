import type { CopyFacts, SettingChange, StatementFacts, StatementKind } from '../../src/analyze/facts.js';

/**
 * One corpus statement and the facts expected of it. For a single statement
 * (`kind` a string) every fact left out must have its empty value (no tables,
 * false, null…), so rows also catch facts reported that should not be. For a
 * multi-statement string (`kind` an array) only the kinds, and the statement
 * texts when given, are checked.
 */
export interface CorpusRow {
  sql: string;
  kind: StatementKind | StatementKind[];
  nodeType?: string;
  tablesRead?: string[];
  tablesWritten?: string[];
  functions?: string[];
  locksRows?: boolean;
  dataModifyingCte?: boolean;
  explainAnalyze?: boolean;
  copy?: CopyFacts;
  settings?: SettingChange[];
  transactionReadWrite?: boolean;
  /** The inner statement's kind and node type. */
  inner?: { kind: StatementKind; nodeType: string };
  refersTo?: StatementFacts['refersTo'];
  defines?: StatementFacts['defines'];
  statements?: string[];
}

export const set = (name: string, value: string | null, local = false): SettingChange => ({
  name,
  value,
  local,
  via: 'set',
});

export const reset = (name: string): SettingChange => ({ name, value: null, local: false, via: 'reset' });

export const setConfig = (name: string, value: string | null, local: boolean): SettingChange => ({
  name,
  value,
  local,
  via: 'set_config',
});

export const txOption = (name: string, value: string | null): SettingChange => ({
  name,
  value,
  local: true,
  via: 'transaction',
});

export const prepared = <N extends string | null>(name: N) => ({ kind: 'prepared' as const, name });
export const cursor = <N extends string | null>(name: N) => ({ kind: 'cursor' as const, name });
