import type { CompiledMasking } from '@pgwarden/crds';
import type { StatementFacts } from '../analyze/facts.js';
import type { Analyzer } from '../analyze/parser.js';
import type { Logger } from '../observe/log.js';
import type { ProxyMetrics } from '../observe/metrics.js';
import { type ColumnRules, compileColumnRules, loadHashKey } from './column-rules.js';
import { type MaskingMode, type MaskVerdict, resolveMasks } from './resolve.js';
import { ResultMasking } from './result-masking.js';
import { type CatalogQuery, loadSensitiveCatalog, type SensitiveCatalog } from './sensitive-catalog.js';

/** The masked columns are read again at least this often, so a column added by a migration is masked within it. */
export const CATALOG_MAX_AGE_MS = 10_000;

/** What one session needs: the check the gate runs, the rewriter of results, and the catalog's readiness. */
export interface SessionMasking {
  check: (facts: StatementFacts) => MaskVerdict;
  results: ResultMasking;
  /**
   * Null when the masked columns are known and fresh for this SQL; otherwise
   * resolves once they are (rejects: fail closed).
   */
  ready(sql?: string): Promise<void> | null;
}

/** A relation name the catalog did not know is looked up again at most this often. */
const UNKNOWN_NAME_RETRY_MS = CATALOG_MAX_AGE_MS;

/**
 * spec.masking as the proxy applies it: the column rules and the hash key, and
 * one snapshot of the masked columns shared by every session, read through the
 * catalog connection, refreshed when it is older than CATALOG_MAX_AGE_MS and
 * after any session changes the schema. A statement waits for a refresh it
 * needs; if the catalog cannot be read, sessions end (fail closed).
 */
export class Masking {
  readonly mode: MaskingMode;
  private readonly rules: ColumnRules;
  private snapshot: SensitiveCatalog | null = null;
  private loadedAt = 0;
  private stale = true;
  private loading: Promise<void> | null = null;
  /** Relation names statements used that the snapshot did not know, and when a refresh last looked for them. */
  private readonly unknownNames = new Map<string, number>();

  constructor(
    readonly policy: CompiledMasking,
    private readonly query: CatalogQuery,
    private readonly analyze: Analyzer,
    private readonly log: Logger,
    private readonly metrics: ProxyMetrics,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.rules = compileColumnRules(policy, loadHashKey(policy, env));
    this.mode = { derived: policy.derived, predicates: policy.predicates };
  }

  /**
   * Null when the snapshot is fresh; otherwise the (shared) refresh to wait for.
   * A statement naming a relation the snapshot does not know (created since,
   * by a migration or another client) also waits for a refresh, so its masked
   * columns are known before it runs; the same unknown name (a CTE, a table of
   * an uncommitted transaction) triggers that at most every UNKNOWN_NAME_RETRY_MS.
   */
  ready(sql?: string): Promise<void> | null {
    const fresh = this.snapshot !== null && !this.stale && Date.now() - this.loadedAt < CATALOG_MAX_AGE_MS;
    if (fresh && (sql === undefined || !this.namesUnknown(sql))) return null;
    this.loading ??= this.load().finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  private namesUnknown(sql: string): boolean {
    const analysis = this.analyze(sql);
    if (!analysis.ok) return false;
    const catalog = this.catalog();
    const now = Date.now();
    let unknown = false;
    for (const { facts } of analysis.statements) {
      for (let f: typeof facts | null = facts; f !== null; f = f.inner) {
        for (const { name } of f.columns.relations) {
          if (name === '' || catalog.knows(name)) continue;
          const looked = this.unknownNames.get(name);
          if (looked !== undefined && now - looked < UNKNOWN_NAME_RETRY_MS) continue;
          this.unknownNames.set(name, now);
          unknown = true;
        }
      }
    }
    if (this.unknownNames.size > 10_000) this.unknownNames.clear();
    return unknown;
  }

  /** The schema may have changed: the next statement waits for a fresh snapshot. */
  invalidate(): void {
    this.stale = true;
  }

  catalog(): SensitiveCatalog {
    if (this.snapshot === null) throw new Error('masking catalog used before it was loaded');
    return this.snapshot;
  }

  forSession(): SessionMasking {
    const results = new ResultMasking({
      catalog: () => this.catalog(),
      detectors: this.policy.detectors,
      schemaChanged: () => this.invalidate(),
      rowMasked: () => {
        this.metrics.maskedRows.count++;
      },
    });
    return {
      check: (facts) => resolveMasks(facts, this.catalog(), this.mode),
      results,
      ready: (sql) => this.ready(sql),
    };
  }

  private async load(): Promise<void> {
    this.stale = false;
    const started = Date.now();
    try {
      const snapshot = await loadSensitiveCatalog(this.query, this.rules, this.mode, this.analyze);
      this.snapshot = snapshot;
      this.loadedAt = started;
      this.metrics.maskingCatalogRefreshes.inc({ outcome: 'ok' });
      this.metrics.maskedRelations.set(snapshot.oids().length);
      this.log.debug({ relations: snapshot.oids().length, ms: Date.now() - started }, 'masked columns read');
    } catch (err) {
      this.stale = true;
      this.metrics.maskingCatalogRefreshes.inc({ outcome: 'failed' });
      this.log.error({ reason: (err as Error).message }, 'masked columns could not be read');
      throw err;
    } finally {
      this.metrics.maskingCatalogSeconds.observe((Date.now() - started) / 1000);
    }
  }
}
