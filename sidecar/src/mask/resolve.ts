import type { ColumnRefFact, ColumnUsage, CopyFormat } from '../analyze/columns.js';
import type { StatementFacts } from '../analyze/facts.js';
import type { CopyColumnMask } from './copy-rows.js';
import {
  isDroppedColumn,
  type MaskedColumn,
  type RelationEntry,
  type SensitiveCatalog,
} from './sensitive-catalog.js';
import type { MaskStrategy } from './strategies.js';
import { TypeOid } from './type-families.js';

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
  /** COPY … TO in text or CSV format with masked columns: how to rewrite its rows; null otherwise. */
  readonly copy: CopyMasks | null;
}

/** The masked fields of COPY … TO rows, by position. */
export interface CopyMasks {
  readonly format: CopyFormat;
  readonly columns: readonly (CopyColumnMask | null)[];
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
  copy: null,
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

  const stars = usage.stars.length > 0;
  const masks: StatementMasks = {
    outputs: stars ? null : outputs,
    conservative: stars && (anyInnerTaint !== null || (outputs?.some((o) => o !== null) ?? false)),
    // Every taint comes from a relation with masked columns, so this covers them all.
    touched: all.some((e) => e.columns.size > 0),
    filtersOn: filtered ? sourceOf(filtered) : null,
    copy: null,
  };

  if (facts.copy?.direction === 'to' && usage.copyFormat) {
    const copy = copyMasks(usage, usage.copyFormat, catalog, masks, starTaint);
    if (typeof copy === 'string') return { ok: false, rule: 'masking-copy', column: copy };
    return { ok: true, masks: { ...masks, copy } };
  }
  return { ok: true, masks };
}

const TEXT_TYPE = TypeOid.text;

/**
 * How COPY … TO rows are masked, or the masked column that makes it impossible
 * (binary format; a * whose columns pgwarden cannot place; a relation name that
 * denotes differently shaped tables in several schemas).
 */
function copyMasks(
  usage: ColumnUsage,
  format: CopyFormat,
  catalog: SensitiveCatalog,
  masks: StatementMasks,
  starTaint: Taint,
): CopyMasks | null | string {
  let columns: (CopyColumnMask | null)[];
  const copied = usage.copiedRelation;
  if (copied) {
    const entries = catalog.relations(copied.name);
    const masked = entries.filter((e) => e.columns.size > 0);
    if (masked.length === 0) return null;
    const [entry] = masked as [RelationEntry];
    const names =
      copied.columns.length > 0 ? copied.columns : entry.attributes.filter((n) => !isDroppedColumn(n));
    if (masked.some((e) => e.attributes.join() !== entry.attributes.join())) {
      return `${copied.name} (several tables of that name: schema-qualify it)`;
    }
    columns = names.map((name) => {
      const column = entry.columns.get(name);
      if (!column) return null;
      return { strategy: column.strategy, typeOid: entry.types[entry.attributes.indexOf(name)] ?? TEXT_TYPE };
    });
  } else {
    if (masks.outputs === null) {
      // A * in COPY (SELECT * …): its columns cannot be placed without a RowDescription.
      return starTaint || masks.conservative
        ? `${starTaint ? sourceOf(starTaint) : 'a masked column'} (list the columns instead of *)`
        : null;
    }
    columns = masks.outputs.map((out) => {
      if (out === null) return null;
      if (out.kind === 'derived') return { strategy: REDACT, typeOid: TEXT_TYPE };
      return { strategy: out.column.strategy, typeOid: out.column.typeOid ?? TEXT_TYPE };
    });
  }
  const first = columns.find((c) => c !== null);
  if (!first) return null;
  if (format.kind === 'binary')
    return 'a masked column (binary COPY cannot be masked: use FORMAT text or csv)';
  return { format, columns };
}

const REDACT: MaskStrategy = Object.freeze({ strategy: 'redact' });

function sourceOf(t: NonNullable<Taint>): string {
  return 'derived' in t ? t.derived : t.name;
}

function bareName(name: string): string {
  return name.slice(name.lastIndexOf('.') + 1);
}
