import type { CompiledMasking } from '@pgwarden/crds';
import { type HashKey, hashKey } from './hash.js';
import type { MaskStrategy } from './strategies.js';

/**
 * spec.masking.columns compiled: each pattern ("schema.table.column" or
 * "table.column", * and ? within a part, case-insensitive) to a RegExp, in
 * policy order, with its strategy. The same patterns are sent to PostgreSQL
 * as one regular expression so the catalog query returns only candidate columns.
 */
export interface ColumnRules {
  /** The strategy of the first rule matching "schema.table.column" (lower case), or null. */
  strategyFor(qualifiedColumn: string): MaskStrategy | null;
  /** A PostgreSQL regular expression (ARE) matching every column some rule matches. */
  readonly catalogRegex: string | null;
  /** Columns whose COMMENT contains this tag are masked too, with labelStrategy. */
  readonly label: string | null;
  readonly labelStrategy: MaskStrategy;
}

export class MaskingKeyError extends Error {
  override name = 'MaskingKeyError';
}

/** Reads the hash key from the environment variable the policy names. */
export function loadHashKey(masking: CompiledMasking, env: NodeJS.ProcessEnv = process.env): HashKey | null {
  if (masking.hashKeyEnv === null) return null;
  const value = env[masking.hashKeyEnv];
  if (value === undefined || value === '') {
    throw new MaskingKeyError(
      `the policy's masking.hashKey names environment variable ${masking.hashKeyEnv}, which is not set; set it to a random secret of at least 16 bytes (e.g. from a Kubernetes Secret)`,
    );
  }
  try {
    return hashKey(Buffer.from(value, 'utf8'));
  } catch (err) {
    throw new MaskingKeyError(`${masking.hashKeyEnv}: ${(err as Error).message}`);
  }
}

export function compileColumnRules(masking: CompiledMasking, key: HashKey | null): ColumnRules {
  const strategyOf = (
    name: CompiledMasking['columns'][number]['strategy'],
    keepFirst = 0,
    keepLast = 0,
  ): MaskStrategy => {
    switch (name) {
      case 'hash':
        if (key === null) throw new MaskingKeyError('strategy hash needs masking.hashKey');
        return { strategy: 'hash', key };
      case 'partial':
        return { strategy: 'partial', keepFirst, keepLast };
      default:
        return { strategy: name };
    }
  };
  const rules = masking.columns.map((rule) => ({
    regex: new RegExp(`^${patternSource(rule.column)}$`, 'i'),
    strategy: strategyOf(rule.strategy, rule.keepFirst, rule.keepLast),
  }));
  const catalogRegex =
    masking.columns.length === 0
      ? null
      : `^(${masking.columns.map((rule) => patternSource(rule.column)).join('|')})$`;
  return {
    strategyFor(qualifiedColumn) {
      for (const rule of rules) if (rule.regex.test(qualifiedColumn)) return rule.strategy;
      return null;
    },
    catalogRegex,
    label: masking.labels?.fromComments ?? null,
    labelStrategy: strategyOf(masking.labels?.strategy ?? 'redact'),
  };
}

/**
 * The pattern as a regular expression that JavaScript and PostgreSQL (ARE) read
 * alike; a two-part pattern (table.column) stands for any schema.
 */
function patternSource(pattern: string): string {
  const parts = pattern.toLowerCase().split('.');
  const source = parts.map(partSource).join('\\.');
  return parts.length === 2 ? `[^.]*\\.${source}` : source;
}

function partSource(part: string): string {
  let out = '';
  for (const ch of part) {
    if (ch === '*') out += '[^.]*';
    else if (ch === '?') out += '[^.]';
    else if (/[!-/:-@[-`{-~]/.test(ch)) out += `\\${ch}`;
    else out += ch;
  }
  return out;
}
