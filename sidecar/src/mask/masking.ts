import type { CompiledMasking } from '@pgwarden/crds';
import type { Analyzer } from '../analyze/parser.js';
import type { Logger } from '../observe/log.js';
import type { ProxyMetrics } from '../observe/metrics.js';
import { compileColumnRules, loadHashKey } from './column-rules.js';
import type { MaskingMode } from './resolve.js';
import { resolveMasks } from './resolve.js';
import { ResultMasking } from './result-masking.js';
import { type CatalogQuery, loadSensitiveCatalog, type SensitiveCatalog } from './sensitive-catalog.js';

/** The masked columns are read again at least this often, so a column added by a migration is masked within it. */
export const CATALOG_MAX_AGE_MS = 10_000;

/** What one session needs: the check the gate runs, the rewriter of results, and the catalog's readiness. */
export interface SessionMasking {
  check: (facts: Parameters<typeof resolveMasks>[0]) => ReturnType<typeof resolveMasks>;
  results: ResultMasking;
  /** Null when the masked columns are known and fresh; otherwise resolves once they are (rejects: fail closed). */
  ready(): Promise<void> | null;
}

/**
 * spec.masking as the proxy applies it: the column rules and the hash key, and
 * one snapshot of the masked columns shared by every session, read through the
 * catalog connection, refreshed when it is older than CATALOG_MAX_AGE_MS and
 * after any session changes the schema. A statement waits for a refresh it
 * needs; if the catalog cannot be read, sessions end (fail closed).
 */
export class Masking {
  readonly mode: MaskingMode;
  private readonly rules;
  private snapshot: SensitiveCatalog | null = null;
  private loadedAt = 0;
  private stale = true;
  private loading: Promise<void> | null = null;

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

  /** Null when the snapshot is fresh; otherwise the (shared) refresh to wait for. */
  ready(): Promise<void> | null {
    if (this.snapshot !== null && !this.stale && Date.now() - this.loadedAt < CATALOG_MAX_AGE_MS) return null;
    this.loading ??= this.load().finally(() => {
      this.loading = null;
    });
    return this.loading;
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
      ready: () => this.ready(),
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
