/**
 * The analyze stage's entry point: parses SQL with PostgreSQL's own parser
 * (libpg-query, WASM), splits it into statements, classifies each, and caches
 * the whole result by SQL text.
 */
import { keepWasmOnBaselineCompiler } from '@pgwarden/crds';
import { hasSqlDetails, loadModule, parseSync, type RawStmt } from 'libpg-query';
import { classifyStatement } from './classify.js';
import type { Analysis, AnalyzedStatement } from './facts.js';
import { Lru } from './lru.js';
import { UnclassifiedStatement } from './unclassified.js';

let loading: Promise<void> | undefined;
let loaded = false;

/** Loads the parser's WASM module; await it once before the first analyze(). */
export function ensureParserLoaded(): Promise<void> {
  if (!loading) {
    keepWasmOnBaselineCompiler();
    loading = loadModule().then(() => {
      loaded = true;
    });
  }
  return loading;
}

export interface AnalyzerOptions {
  /** Entries kept in the result cache; 0 turns caching off. Default 10 000. */
  cacheCapacity?: number;
  /** Longer SQL texts are analysed but not cached, so the cache's memory stays bounded. Default 64 KiB. */
  maxCachedLength?: number;
  /** Work out each statement's column usage (facts.columns), which only masking reads. Default true. */
  columnUsage?: boolean;
}

export type Analyzer = (sql: string) => Analysis;

/** An analyze() with its own cache. Results are deeply frozen: cached ones are shared by every caller. */
export function createAnalyzer(options: AnalyzerOptions = {}): Analyzer {
  const cache = new Lru<string, Analysis>(options.cacheCapacity ?? 10_000);
  const maxCachedLength = options.maxCachedLength ?? 64 * 1024;
  const withColumns = options.columnUsage ?? true;
  return (sql) => {
    const cached = cache.get(sql);
    if (cached !== undefined) return cached;
    const analysis = deepFreeze(analyzeText(sql, withColumns));
    if (sql.length <= maxCachedLength) cache.set(sql, analysis);
    return analysis;
  };
}

/** Analyses one SQL string (a simple Query may hold several statements), through the shared cache. */
export const analyze: Analyzer = createAnalyzer();

function analyzeText(sql: string, withColumns: boolean): Analysis {
  if (!loaded) throw new Error('analyze() called before ensureParserLoaded() resolved');
  // The parser reads a C string (it would stop at a NUL) encoded from UTF-16 (a lone
  // surrogate would swallow the next character): either way it would not see what
  // PostgreSQL sees, so such text is refused, not guessed at.
  const nul = sql.indexOf('\0');
  if (nul >= 0) return parseError('query text contains a NUL character', codePoints(sql, nul) + 1);
  if (!sql.isWellFormed()) return parseError('query text is not well-formed Unicode', null);
  if (sql === '') return { ok: true, statements: [] };

  let raws: RawStmt[];
  try {
    raws = parseSync(sql).stmts ?? [];
  } catch (error) {
    // libpg-query reports a 0-based position in characters; PostgreSQL's is 1-based.
    if (hasSqlDetails(error)) return parseError(error.message, (error.sqlDetails?.cursorPosition ?? 0) + 1);
    // The parse tree arrives as JSON; one nested past what JSON.parse can take is still SQL we cannot read.
    if (error instanceof RangeError) return parseError('query is nested too deeply to analyze', null);
    return parseError(`query cannot be parsed: ${String(error)}`, null);
  }

  const statements: AnalyzedStatement[] = [];
  for (const slice of statementSlices(sql, raws)) {
    try {
      statements.push({ sql: slice.text, facts: classifyStatement(slice.raw.stmt, withColumns) });
    } catch (error) {
      return unclassified(classificationFailure(error), codePoints(sql, slice.start) + 1);
    }
  }
  return { ok: true, statements };
}

interface Slice {
  raw: RawStmt;
  text: string;
  /** UTF-16 index of the statement's start in the whole text. */
  start: number;
}

/**
 * Cuts each statement's text out of the whole. The parser's offsets count UTF-8
 * bytes, so non-ASCII text is cut on its bytes and the string offsets follow
 * incrementally. A missing location is 0 and a missing length means "to the end".
 */
function statementSlices(sql: string, raws: readonly RawStmt[]): Slice[] {
  const ascii = Buffer.byteLength(sql) === sql.length;
  const bytes = ascii ? null : Buffer.from(sql, 'utf8');
  let byte = 0;
  let index = 0;
  return raws.map((raw) => {
    const from = raw.stmt_location ?? 0;
    const to = raw.stmt_len ? from + raw.stmt_len : ascii ? sql.length : (bytes?.length ?? 0);
    if (bytes === null) return { raw, text: sql.slice(from, to), start: from };
    index += bytes.toString('utf8', byte, from).length;
    byte = from;
    return { raw, text: bytes.toString('utf8', from, to), start: index };
  });
}

/** The number of characters (code points, as PostgreSQL counts them) before a UTF-16 index. */
function codePoints(sql: string, index: number): number {
  let count = 0;
  for (let i = 0; i < index; i++) {
    const unit = sql.charCodeAt(i);
    if (unit < 0xdc00 || unit > 0xdfff) count++;
  }
  return count;
}

/** Whatever stops classification denies the statement: fail closed, never allow by accident. */
function classificationFailure(error: unknown): string {
  if (error instanceof UnclassifiedStatement) return error.message;
  if (error instanceof RangeError) return 'pgwarden cannot classify a statement nested this deeply';
  return `pgwarden failed to classify the statement: ${String(error)}`;
}

function parseError(message: string, position: number | null): Analysis {
  return { ok: false, error: { reason: 'parse', message, position } };
}

function unclassified(message: string, position: number): Analysis {
  return { ok: false, error: { reason: 'unclassified', message, position } };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
