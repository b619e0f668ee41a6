import type { Analyzer } from '../analyze/parser.js';
import type { ColumnRules } from './column-rules.js';
import { type MaskingMode, resolveMasks } from './resolve.js';
import type { MaskStrategy } from './strategies.js';

/** PostgreSQL's name for a dropped column: it keeps its attnum but is no column of the relation. */
export function isDroppedColumn(name: string): boolean {
  return name === '' || name.startsWith('........pg.dropped.');
}

/** A column whose values are masked, and why (for errors and logs; never a value). */
export interface MaskedColumn {
  /** schema.table.column */
  readonly name: string;
  readonly strategy: MaskStrategy;
  /** The column's type, where the catalog gave it (COPY rows have no RowDescription to tell). */
  readonly typeOid?: number;
}

/** What a view exposes of masked columns: a strategy per masked column and whether it filters on one. */
interface RelationEntry {
  readonly oid: number;
  readonly qualified: string;
  readonly columns: Map<string, MaskedColumn>;
  /** Column names by attnum - 1, for COPY and views (dropped columns keep their placeholder names). */
  readonly attributes: readonly string[];
  /** Column type OIDs by attnum - 1, where known (tables): a masked COPY field keeps a value of its type. */
  readonly types: readonly number[];
  /** A view whose rows depend on a masked column (WHERE ssn LIKE …): reading it is an oracle. */
  filtersOn: string | null;
}

/**
 * The masked columns of the database at one moment: by (relation OID, attnum)
 * for RowDescription, and by name for the statement analysis. Tables and views
 * come from the column rules and comment labels; views and materialized views
 * built on masked columns inherit them (a view column that is a masked column
 * keeps its strategy; one computed from it is redacted).
 */
export class SensitiveCatalog {
  private readonly byOid = new Map<number, RelationEntry>();
  private readonly byName = new Map<string, RelationEntry[]>();
  /** Every user relation of the database at load time, "schema.name" and bare "name", lower case. */
  private readonly known = new Set<string>();

  /** Whether a relation of this name (as a statement writes it) existed when the snapshot was read. */
  knows(name: string): boolean {
    return this.known.has(name.toLowerCase());
  }

  /** Records a relation that exists (masked or not). */
  exists(schema: string, name: string): void {
    this.known.add(`${schema}.${name}`.toLowerCase()).add(name.toLowerCase());
  }

  get empty(): boolean {
    return this.byOid.size === 0;
  }

  /** The masked column at (relation OID, attnum) of a RowDescription field, or null. */
  columnAt(tableOid: number, attnum: number): MaskedColumn | null {
    const entry = this.byOid.get(tableOid);
    if (!entry) return null;
    const name = entry.attributes[attnum - 1];
    return name === undefined ? null : (entry.columns.get(name) ?? null);
  }

  /**
   * The relations a name in a statement may denote: "schema.table" exactly, a
   * bare "table" in any schema (the session's search_path is not tracked).
   */
  relations(name: string): readonly RelationEntry[] {
    return this.byName.get(name.toLowerCase()) ?? NONE;
  }

  /** Adds a relation; adding one that is already there changes nothing. */
  add(entry: RelationEntry): void {
    if (this.byOid.has(entry.oid)) return;
    this.byOid.set(entry.oid, entry);
    const [schema, table] = splitQualified(entry.qualified);
    for (const key of [`${schema}.${table}`, table]) {
      const list = this.byName.get(key);
      if (list) list.push(entry);
      else this.byName.set(key, [entry]);
    }
  }

  entry(oid: number): RelationEntry | undefined {
    return this.byOid.get(oid);
  }

  oids(): number[] {
    return [...this.byOid.keys()];
  }
}

const NONE: readonly RelationEntry[] = Object.freeze([]);

export type { RelationEntry };

function splitQualified(qualified: string): [string, string] {
  const dot = qualified.indexOf('.');
  return [qualified.slice(0, dot), qualified.slice(dot + 1)];
}

/** Runs one catalog query; rejects when it fails. */
export type CatalogQuery = (sql: string) => Promise<(string | null)[][]>;

/** Views built on views: deeper chains than this are not followed (and are reported). */
const MAX_VIEW_DEPTH = 16;

/**
 * Reads the masked columns from the catalog: one query for the columns the
 * rules or labels name, then the views and materialized views depending on
 * those relations, level by level, each view's definition analysed like a
 * statement.
 */
export async function loadSensitiveCatalog(
  query: CatalogQuery,
  rules: ColumnRules,
  mode: MaskingMode,
  analyze: Analyzer,
): Promise<SensitiveCatalog> {
  const catalog = new SensitiveCatalog();
  // Every relation, so a statement naming one created since can wait for a fresh snapshot.
  const relations = await query(
    `SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_(catalog|toast)'`,
  );
  for (const [schema, name] of relations) catalog.exists(String(schema), String(name));
  const conditions: string[] = [];
  if (rules.catalogRegex) {
    conditions.push(
      `lower(n.nspname || '.' || c.relname || '.' || a.attname) ~ ${literal(rules.catalogRegex)}`,
    );
  }
  if (rules.label) {
    conditions.push(`pg_catalog.col_description(c.oid, a.attnum) ILIKE ${literal(`%${rules.label}%`)}`);
  }
  if (conditions.length === 0) return catalog;
  const rows = await query(
    `SELECT c.oid, n.nspname, c.relname, a.attname, ${rules.label ? `coalesce(pg_catalog.col_description(c.oid, a.attnum) ILIKE ${literal(`%${rules.label}%`)}, false)` : 'false'},
       ${attributeArrays('c')}
     FROM pg_catalog.pg_attribute a
     JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
       AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_(catalog|toast)'
       AND (${conditions.join(' OR ')})`,
  );
  for (const [oid, schema, table, column, labelled, attributes, types] of rows) {
    const qualified = `${schema}.${table}`;
    const columnName = String(column);
    const strategy =
      rules.strategyFor(`${qualified}.${columnName}`.toLowerCase()) ??
      (labelled === 't' ? rules.labelStrategy : null);
    if (strategy === null) continue;
    const entry = catalog.entry(Number(oid)) ?? newEntry(Number(oid), qualified, attributes, types);
    const typeOid = entry.types[entry.attributes.indexOf(columnName)];
    entry.columns.set(columnName, { name: `${qualified}.${columnName}`, strategy, typeOid });
    catalog.add(entry);
  }
  await addInheritingTables(query, catalog);
  await addDependentViews(query, catalog, mode, analyze);
  return catalog;
}

/**
 * Partitions and inheritance children of masked tables mask the same columns
 * (by name: a child's column numbers may differ), so reading a partition
 * directly is no way around a rule written for its parent.
 */
async function addInheritingTables(query: CatalogQuery, catalog: SensitiveCatalog): Promise<void> {
  const parents = catalog.oids();
  if (parents.length === 0) return;
  const rows = await query(
    `WITH RECURSIVE kids(root, child) AS (
       SELECT i.inhparent, i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent IN (${parents.join(', ')})
       UNION SELECT k.root, i.inhrelid FROM kids k JOIN pg_catalog.pg_inherits i ON i.inhparent = k.child)
     SELECT k.root, c.oid, n.nspname, c.relname,
       ${attributeArrays('c')}
     FROM kids k JOIN pg_catalog.pg_class c ON c.oid = k.child JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace`,
  );
  for (const [root, oid, schema, table, attributes, types] of rows) {
    const parent = catalog.entry(Number(root));
    if (!parent) continue;
    const entry =
      catalog.entry(Number(oid)) ?? newEntry(Number(oid), `${schema}.${table}`, attributes, types);
    for (const [name, column] of parent.columns) {
      if (entry.attributes.includes(name) && !entry.columns.has(name)) entry.columns.set(name, column);
    }
    catalog.add(entry);
  }
}

/**
 * Two JSON arrays by attnum (dropped columns included, so index = attnum - 1):
 * the column names and the type OIDs of relation `alias`.
 */
function attributeArrays(alias: string): string {
  const array = (column: string) =>
    `(SELECT pg_catalog.array_to_json(pg_catalog.array_agg(x.${column} ORDER BY x.attnum))::text FROM pg_catalog.pg_attribute x WHERE x.attrelid = ${alias}.oid AND x.attnum > 0)`;
  return `${array('attname')}, ${array('atttypid')}`;
}

function newEntry(
  oid: number,
  qualified: string,
  attributes: string | null | undefined,
  types: string | null | undefined,
): RelationEntry {
  // Dropped columns keep their attnum with a placeholder name; it never matches a rule.
  const names = JSON.parse(attributes ?? '[]') as (string | null)[];
  // array_to_json writes oids as numbers or strings depending on the server: read either.
  const typeOids = (JSON.parse(types ?? '[]') as unknown[]).map(Number);
  return {
    oid,
    qualified,
    columns: new Map(),
    attributes: names.map((n) => n ?? ''),
    types: typeOids,
    filtersOn: null,
  };
}

async function addDependentViews(
  query: CatalogQuery,
  catalog: SensitiveCatalog,
  mode: MaskingMode,
  analyze: Analyzer,
): Promise<void> {
  // Views are analysed again whenever a relation they read gained masked columns, until nothing
  // changes (masked columns only ever get added, so this ends); a view a rule names is analysed too.
  let frontier = catalog.oids();
  for (let depth = 0; frontier.length > 0 && depth < MAX_VIEW_DEPTH; depth++) {
    const rows = await query(
      `SELECT DISTINCT v.oid, n.nspname, v.relname, pg_catalog.pg_get_viewdef(v.oid),
         ${attributeArrays('v')}
       FROM pg_catalog.pg_depend d
       JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
       JOIN pg_catalog.pg_class v ON v.oid = r.ev_class
       JOIN pg_catalog.pg_namespace n ON n.oid = v.relnamespace
       WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
         AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
         AND d.refobjid IN (${frontier.join(', ')}) AND v.oid <> d.refobjid`,
    );
    frontier = [];
    for (const [oid, schema, name, definition, attributes, types] of rows) {
      const viewOid = Number(oid);
      const entry = catalog.entry(viewOid) ?? newEntry(viewOid, `${schema}.${name}`, attributes, types);
      const before = { columns: entry.columns.size, filtersOn: entry.filtersOn };
      exposeMaskedColumns(entry, definition ?? '', catalog, mode, analyze);
      if (entry.columns.size > before.columns || entry.filtersOn !== before.filtersOn) {
        catalog.add(entry);
        if (!frontier.includes(viewOid)) frontier.push(viewOid);
      }
    }
  }
}

/** Marks the view's columns that expose masked columns, from its definition analysed like a query. */
function exposeMaskedColumns(
  entry: RelationEntry,
  definition: string,
  catalog: SensitiveCatalog,
  mode: MaskingMode,
  analyze: Analyzer,
): void {
  const analysis = analyze(definition);
  const facts = analysis.ok && analysis.statements.length === 1 ? analysis.statements[0]?.facts : undefined;
  // A definition pgwarden cannot read exposes everything: every column is redacted.
  // Filters are recorded, not refused: reading the view is what the statement analysis refuses.
  const masks = facts ? resolveMasks(facts, catalog, { derived: 'mask', predicates: 'allow' }) : null;
  entry.attributes.forEach((name, i) => {
    if (name === '') return;
    let column: MaskedColumn | null = null;
    if (masks === null || !masks.ok) {
      column = { name: `${entry.qualified}.${name}`, strategy: { strategy: 'redact' } };
    } else {
      const out = masks.masks.outputs?.[i] ?? (masks.masks.conservative ? DERIVED_VIEW : null);
      if (out?.kind === 'column') column = out.column;
      else if (out) column = { name: `${entry.qualified}.${name}`, strategy: { strategy: 'redact' } };
    }
    if (column && !entry.columns.has(name)) entry.columns.set(name, column);
  });
  if (masks?.ok && masks.masks.filtersOn) entry.filtersOn = masks.masks.filtersOn;
  if (mode.predicates === 'allow') entry.filtersOn = null;
}

const DERIVED_VIEW = { kind: 'derived' as const, source: '' };

/** A string literal PostgreSQL reads the same whatever standard_conforming_strings says. */
function literal(text: string): string {
  return `E'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}
