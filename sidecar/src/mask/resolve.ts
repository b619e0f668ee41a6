import type { ColumnRefFact, ColumnUsage } from '../analyze/columns.js';
import type { StatementFacts } from '../analyze/facts.js';
import type { MaskedColumn, RelationEntry, SensitiveCatalog } from './sensitive-catalog.js';

/**
 * A statement's use of masked columns, resolved against the catalog: which of
 * its result columns carry masked data, and whether it must be refused because
 * it uses masked values where no result rewrite can reach (filters are
 * oracles; written values leave through another table).
 *
 * Names are matched conservatively: an unqualified column matches every
 * relation of the statement that has a masked column of that name, and a bare
 * table name matches that table in every schema. Over-masking is the price of
 * not tracking scopes and search_path exactly; a miss would be a leak.
 */

export interface MaskingMode {
  derived: 'mask' | 'deny';
  predicates: 'deny' | 'allow';
}

/** A result column carrying a masked column's values (its strategy applies), or values computed from one (redacted whole). */
export type OutputMask =
  | { readonly kind: 'column'; readonly column: MaskedColumn }
  | { readonly kind: 'derived'; readonly source: string };

export interface StatementMasks {
  /** Masks by result position; null when positions are unknown (a * in the list). */
  readonly outputs: readonly (OutputMask | null)[] | null;
  /** Result columns without a table (computed) are redacted: a * reaches data computed from masked columns. */
  readonly conservative: boolean;
  /** The statement references a masked column somewhere: values quoted in its errors are redacted. */
  readonly touched: boolean;
  /** A masked column the statement filters on (when predicates are allowed), for views' lineage. */
  readonly filtersOn: string | null;
}

export type MaskRefusalRule = 'masking-predicates' | 'masking-derived' | 'masking-write' | 'masking-copy';

export type MaskVerdict =
  | { readonly ok: true; readonly masks: StatementMasks }
  | { readonly ok: false; readonly rule: MaskRefusalRule; readonly column: string };

export const NO_MASKS: StatementMasks = Object.freeze({
  outputs: null,
  conservative: false,
  touched: false,
  filtersOn: null,
});
const UNMASKED: MaskVerdict = Object.freeze({ ok: true, masks: NO_MASKS });

type Taint = MaskedColumn | { derived: string } | null;

/** The masks of one statement's result, or the reason to refuse it. */
export function resolveMasks(
  facts: StatementFacts,
  catalog: SensitiveCatalog,
  mode: MaskingMode,
): MaskVerdict {
  const usage = facts.columns;
  const relations = usage.relations.map((r) => ({ ...r, entries: catalog.relations(r.name) }));
  if (relations.every((r) => r.entries.length === 0)) return UNMASKED;

  const oracle = relations.flatMap((r) => r.entries).find((e) => e.filtersOn !== null);
  if (oracle && mode.predicates === 'deny') {
    return {
      ok: false,
      rule: 'masking-predicates',
      column: `${oracle.qualified} (filters on ${oracle.filtersOn})`,
    };
  }

  const named = (qualifier: string): RelationEntry[] =>
    relations
      .filter((r) => (r.alias ?? bareName(r.name)) === qualifier || r.name === qualifier)
      .flatMap((r) => r.entries);
  const all = relations.flatMap((r) => r.entries);
  const isRelation = (name: string): boolean =>
    relations.some((r) => (r.alias ?? bareName(r.name)) === name || r.name === name);
  const innerTaints = new Map<string, Taint>();
  let anyInnerTaint: Taint = null;

  const resolve = (ref: ColumnRefFact): Taint => {
    if (ref.name === '*') {
      const entries = ref.qualifier === null ? all : named(ref.qualifier);
      const masked = entries.find((e) => e.columns.size > 0);
      if (masked) return { derived: `${masked.qualified}.*` };
      return ref.qualifier === null || entries.length === 0 ? anyInnerTaint : null;
    }
    if (ref.qualifier === null) {
      const whole = named(ref.name).find((e) => e.columns.size > 0);
      if (whole) return { derived: `${whole.qualified} (whole row)` };
      for (const e of all) {
        const column = e.columns.get(ref.name);
        if (column) return column;
      }
      const inner = innerTaints.get(ref.name) ?? innerTaints.get('') ?? null;
      if (inner) return inner;
      // A whole row of a CTE or subquery (row_to_json(x)): whatever its columns carry.
      return anyInnerTaint && isRelation(ref.name) ? { derived: sourceOf(anyInnerTaint) } : null;
    }
    const entries = named(ref.qualifier);
    for (const e of entries) {
      const column = e.columns.get(ref.name);
      if (column) return column;
    }
    const inner = innerTaints.get(ref.name) ?? innerTaints.get('') ?? null;
    if (inner || entries.length > 0) return inner;
    // A qualifier that names nothing we know: any relation's column of that name.
    for (const e of all) {
      const column = e.columns.get(ref.name);
      if (column) return column;
    }
    return null;
  };
  const firstTaint = (refs: readonly ColumnRefFact[]): Taint => {
    for (const ref of refs) {
      const t = resolve(ref);
      if (t) return t;
    }
    return null;
  };

  // Subquery and CTE columns: a name's taint flows to every reference of that name.
  for (let pass = 0; pass <= usage.inner.length; pass++) {
    let changed = false;
    for (const column of usage.inner) {
      const key = column.name ?? '';
      if (innerTaints.has(key)) continue;
      const t = firstTaint(column.refs);
      if (!t) continue;
      // As for outputs: a column of UNION branches that are different columns is derived.
      const direct = column.direct && column.refs.length === 1 && !('derived' in t);
      const taint = direct ? t : { derived: sourceOf(t) };
      innerTaints.set(key, taint);
      anyInnerTaint ??= taint;
      changed = true;
    }
    if (!changed) break;
  }

  const written = firstTaint(usage.writes);
  if (written) return { ok: false, rule: 'masking-write', column: sourceOf(written) };

  const starTaint = firstTaint(usage.stars);
  const outputTaints = (usage.outputs ?? []).map((out) => firstTaint(out.refs));
  let outputs: (OutputMask | null)[] | null = null;
  let derived: string | null = null;
  if (usage.outputs) {
    outputs = usage.outputs.map((out, i) => {
      const t = outputTaints[i] ?? null;
      if (!t) return null;
      if (out.direct && !('derived' in t) && out.refs.length === 1) return { kind: 'column', column: t };
      derived ??= sourceOf(t);
      return { kind: 'derived', source: sourceOf(t) };
    });
  }

  // ORDER BY 1, ORDER BY alias: a filter on the result column of that position or name.
  const filterTaint = (ref: ColumnRefFact): Taint => {
    if (ref.qualifier === null && ref.name.startsWith('#'))
      return outputTaints[Number(ref.name.slice(1)) - 1] ?? null;
    const own = resolve(ref);
    if (own || ref.qualifier !== null) return own;
    const i = usage.outputs?.findIndex((out) => out.name === ref.name) ?? -1;
    return i >= 0 ? (outputTaints[i] ?? null) : null;
  };
  let filtered: Taint = null;
  for (const ref of usage.filters) {
    filtered = filterTaint(ref);
    if (filtered) break;
  }
  if (filtered && mode.predicates === 'deny') {
    return { ok: false, rule: 'masking-predicates', column: sourceOf(filtered) };
  }
  if (derived === null && anyInnerTaint && 'derived' in anyInnerTaint) derived = anyInnerTaint.derived;
  if (derived === null && starTaint && 'derived' in starTaint && !starTaint.derived.endsWith('.*')) {
    derived = starTaint.derived;
  }
  if (derived !== null && mode.derived === 'deny')
    return { ok: false, rule: 'masking-derived', column: derived };

  const touched =
    outputs?.some((o) => o !== null) || starTaint !== null || anyInnerTaint !== null || filtered !== null;
  const stars = usage.stars.length > 0;
  const masks: StatementMasks = {
    outputs: stars ? null : outputs,
    conservative: stars && (anyInnerTaint !== null || (outputs?.some((o) => o !== null) ?? false)),
    touched: touched || all.some((e) => e.columns.size > 0),
    filtersOn: filtered ? sourceOf(filtered) : null,
  };

  if (facts.copy?.direction === 'to') {
    const copied = copyTaint(usage, catalog);
    const exposed =
      copied ??
      (masks.outputs?.find((o) => o !== null) ? 'a masked column' : null) ??
      (starTaint ? sourceOf(starTaint) : null);
    if (exposed) return { ok: false, rule: 'masking-copy', column: exposed };
  }
  return { ok: true, masks };
}

/** COPY of a relation: the first masked column it copies. */
function copyTaint(usage: ColumnUsage, catalog: SensitiveCatalog): string | null {
  const copied = usage.copiedRelation;
  if (!copied) return null;
  for (const entry of catalog.relations(copied.name)) {
    for (const [name, column] of entry.columns) {
      if (copied.columns.length === 0 || copied.columns.includes(name)) return column.name;
    }
  }
  return null;
}

function sourceOf(t: NonNullable<Taint>): string {
  return 'derived' in t ? t.derived : t.name;
}

function bareName(name: string): string {
  return name.slice(name.lastIndexOf('.') + 1);
}
