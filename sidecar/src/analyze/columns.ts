/**
 * Where a statement uses columns, from its parse tree: which column references
 * feed each result column, which feed subquery and CTE columns, and which only
 * filter, join, sort or group rows, or are written somewhere. Masking (mask/)
 * resolves these references against the masked columns of the catalog; this
 * module knows nothing of the catalog, so its result is cached with the facts.
 */
import { relationName } from './names.js';
import { type Body, unwrap } from './walk.js';

/** A column reference as written: `ssn` (qualifier null), `c.ssn`, `c.*` (name "*"), or a bare `c` (a whole row, or a column named c). */
export interface ColumnRefFact {
  readonly qualifier: string | null;
  readonly name: string;
}

export interface OutputColumnFact {
  /** Its alias or column name in the first branch, which ORDER BY and GROUP BY may refer to; null when unnamed. */
  readonly name: string | null;
  /** The column is exactly one column reference (in every UNION branch): a masked one keeps its strategy. */
  readonly direct: boolean;
  readonly refs: readonly ColumnRefFact[];
}

/** A column of a subquery or CTE: referenced by name from the statement around it. */
export interface InnerColumnFact {
  /** Its name; null when it cannot be known (unnamed expression, renamed by a column alias list, function in FROM). */
  readonly name: string | null;
  readonly direct: boolean;
  readonly refs: readonly ColumnRefFact[];
}

export interface ColumnUsage {
  /** Every relation named anywhere in the statement, with its alias; a subquery in FROM is here under its alias, with an empty name. */
  readonly relations: readonly { readonly name: string; readonly alias: string | null }[];
  /** The result's columns by position (SELECT list, VALUES, RETURNING); null when the statement returns no rows. */
  readonly outputs: readonly OutputColumnFact[] | null;
  /** `*` or `t.*` in the result list: positions after it are unknown, the references are here. */
  readonly stars: readonly ColumnRefFact[];
  readonly inner: readonly InnerColumnFact[];
  /** References that decide which rows or in which order (WHERE, JOIN, GROUP BY, ORDER BY, window, FILTER, LIMIT…). */
  readonly filters: readonly ColumnRefFact[];
  /** References whose values are stored (INSERT … SELECT, UPDATE SET, CREATE TABLE AS, CREATE VIEW) or reach anything else. */
  readonly writes: readonly ColumnRefFact[];
  /** COPY of a relation: its name and column list (empty: every column). */
  readonly copiedRelation: { readonly name: string; readonly columns: readonly string[] } | null;
  /** COPY … TO: how its rows are written; null for every other statement. */
  readonly copyFormat: CopyFormat | null;
}

/** The row format of COPY … TO, from its options (PostgreSQL's defaults where absent). */
export interface CopyFormat {
  readonly kind: 'text' | 'csv' | 'binary';
  readonly delimiter: string;
  /** The string that stands for NULL: \N in text, an empty unquoted field in CSV. */
  readonly nullString: string;
  readonly quote: string;
  readonly escape: string;
  /** HEADER: the first row holds column names. */
  readonly header: boolean;
}

export const NO_COLUMN_USAGE: ColumnUsage = Object.freeze({
  relations: Object.freeze([]),
  outputs: null,
  stars: Object.freeze([]),
  inner: Object.freeze([]),
  filters: Object.freeze([]),
  writes: Object.freeze([]),
  copiedRelation: null,
  copyFormat: null,
});

interface MutableOutput {
  name: string | null;
  direct: boolean;
  refs: ColumnRefFact[];
}

/**
 * ORDER BY 2 / GROUP BY 2 name a result column by position: recorded as a
 * reference whose name is "#2", which masking resolves to that output.
 */
export function positionRef(position: number): ColumnRefFact {
  return { qualifier: null, name: `#${position}` };
}

/** Where a reference found under the current node goes. */
type Sink =
  | { role: 'result'; outputs: MutableOutput[] }
  | { role: 'output'; output: MutableOutput }
  | { role: 'inner'; column: MutableOutput }
  /** A SELECT whose list is a subquery's or CTE's columns; UNION branches share `columns`, merged by position. */
  | { role: 'subquery'; renamed: boolean; columns?: (MutableOutput & { name: string | null })[] }
  /** A SELECT whose list is not a result (EXPLAIN's, DECLARE's, PREPARE's statement): only its filters count. */
  | { role: 'plan' }
  | { role: 'filter' }
  | { role: 'write' };

const FILTER: Sink = { role: 'filter' };
const WRITE: Sink = { role: 'write' };
const PLAN: Sink = { role: 'plan' };

const SELECT_FILTER_FIELDS = [
  'whereClause',
  'groupClause',
  'havingClause',
  'windowClause',
  'sortClause',
  'distinctClause',
  'limitCount',
  'limitOffset',
  'lockingClause',
] as const;

/** The column usage of one statement node (`{ SelectStmt: … }`). */
export function columnUsage(statement: unknown): ColumnUsage {
  const relations: { name: string; alias: string | null }[] = [];
  const stars: ColumnRefFact[] = [];
  const inner: (MutableOutput & { name: string | null })[] = [];
  const filters: ColumnRefFact[] = [];
  const writes: ColumnRefFact[] = [];
  let outputs: MutableOutput[] | null = null;
  let copiedRelation: ColumnUsage['copiedRelation'] = null;
  let copyFormat: CopyFormat | null = null;

  const stack: { value: unknown; sink: Sink }[] = [];
  const push = (value: unknown, sink: Sink): void => {
    if (value !== null && typeof value === 'object') stack.push({ value, sink });
  };
  const record = (ref: ColumnRefFact, sink: Sink): void => {
    switch (sink.role) {
      case 'output':
        sink.output.refs.push(ref);
        break;
      case 'inner':
        sink.column.refs.push(ref);
        break;
      case 'filter':
        filters.push(ref);
        break;
      case 'plan':
        break;
      default:
        writes.push(ref);
    }
  };
  const resultSink = (): Sink => {
    outputs ??= [];
    return { role: 'result', outputs };
  };

  /** One SELECT list or VALUES row: where each item's references go under `sink`. */
  const selectList = (items: readonly unknown[], sink: Sink): void => {
    items.forEach((item, i) => {
      const target = unwrap(item);
      const value = target?.type === 'ResTarget' ? target.body.val : item;
      const ref = columnRef(value);
      if (ref?.name === '*' && sink.role === 'result') {
        stars.push(ref);
        return;
      }
      switch (sink.role) {
        case 'result': {
          const existing = sink.outputs[i];
          const alias =
            (target?.body.name as string | undefined) ?? (ref && ref.name !== '*' ? ref.name : null);
          const output = existing ?? { name: alias, direct: true, refs: [] };
          output.direct &&= ref !== null;
          if (!existing) sink.outputs[i] = output;
          push(value, { role: 'output', output });
          break;
        }
        case 'subquery': {
          const direct = ref !== null && ref.name !== '*';
          const existing = sink.columns?.[i];
          if (existing) {
            existing.direct &&= direct;
            push(value, { role: 'inner', column: existing });
            break;
          }
          const name = sink.renamed
            ? null
            : ((target?.body.name as string | undefined) ?? (ref && ref.name !== '*' ? ref.name : null));
          const column = { name, direct, refs: [] as ColumnRefFact[] };
          inner.push(column);
          if (sink.columns) sink.columns[i] = column;
          push(value, { role: 'inner', column });
          break;
        }
        default:
          push(value, sink);
      }
    });
  };

  const select = (body: Body, sink: Sink): void => {
    if (body.op !== undefined && body.op !== 'SETOP_NONE') {
      // The left branch is popped first, so the leftmost branch names the columns, as in PostgreSQL.
      const branches = sink.role === 'subquery' ? { ...sink, columns: sink.columns ?? [] } : sink;
      push({ SelectStmt: body.rarg }, branches);
      push({ SelectStmt: body.larg }, branches);
    }
    const stored = body.intoClause !== undefined && (sink.role === 'result' || sink.role === 'plan');
    const listSink = stored ? WRITE : sink;
    if (Array.isArray(body.targetList)) selectList(body.targetList, listSink);
    if (Array.isArray(body.valuesLists)) {
      for (const row of body.valuesLists) {
        const items = unwrap(row)?.body.items;
        if (Array.isArray(items)) selectList(items, listSink);
      }
    }
    for (const field of SELECT_FILTER_FIELDS) push(body[field], FILTER);
    for (const field of ['sortClause', 'groupClause', 'distinctClause'] as const) {
      for (const position of positions(body[field])) filters.push(positionRef(position));
    }
    if (Array.isArray(body.fromClause)) for (const item of body.fromClause) fromItem(item);
    withClause(body.withClause);
  };

  const withClause = (clause: unknown): void => {
    const ctes = (clause as Body | undefined)?.ctes;
    if (!Array.isArray(ctes)) return;
    for (const cte of ctes) {
      const body = unwrap(cte)?.body;
      if (!body) continue;
      const renamed = Array.isArray(body.aliascolnames) && body.aliascolnames.length > 0;
      push(body.ctequery, { role: 'subquery', renamed });
    }
  };

  const fromItem = (item: unknown): void => {
    const node = unwrap(item);
    if (!node) return;
    switch (node.type) {
      case 'RangeVar':
        relation(node.body);
        return;
      case 'RangeSubselect': {
        const alias = node.body.alias as Body | undefined;
        // Named so that a whole-row reference to it (row_to_json(s)) is known as one.
        if (typeof alias?.aliasname === 'string') relations.push({ name: '', alias: alias.aliasname });
        const renamed = Array.isArray(alias?.colnames) && alias.colnames.length > 0;
        push(node.body.subquery, { role: 'subquery', renamed });
        return;
      }
      case 'JoinExpr':
        fromItem(node.body.larg);
        fromItem(node.body.rarg);
        push(node.body.quals, FILTER);
        for (const name of stringList(node.body.usingClause)) filters.push({ qualifier: null, name });
        return;
      case 'RangeFunction':
      case 'RangeTableFunc':
      case 'JsonTable': {
        // A function, XMLTABLE or JSON_TABLE in FROM yields columns of unknown names computed from its arguments.
        const column = { name: null, direct: false, refs: [] };
        inner.push(column);
        push(node.type === 'RangeFunction' ? node.body.functions : node.body, { role: 'inner', column });
        return;
      }
      default:
        push(item, FILTER);
    }
  };

  const relation = (rv: Body): void => {
    const alias = (rv.alias as Body | undefined)?.aliasname;
    relations.push({ name: relationName(rv), alias: typeof alias === 'string' ? alias : null });
  };

  /** The statement itself: decides where its parts' references go. */
  const top = (node: { type: string; body: Body }, rows: () => Sink = resultSink): void => {
    const b = node.body;
    // libpg-query 18 holds RETURNING in returningClause.exprs (RETURNING OLD/NEW); older trees in returningList.
    const returning = (clause: unknown): void => {
      const list = (b.returningClause as Body | undefined)?.exprs ?? clause;
      if (Array.isArray(list) && list.length > 0) selectList(list, rows());
    };
    switch (node.type) {
      case 'SelectStmt':
        select(b, resultSink());
        return;
      case 'InsertStmt':
      case 'UpdateStmt':
      case 'DeleteStmt':
      case 'MergeStmt':
        // Each field below belongs to some of these statements; absent ones add nothing.
        relation(b.relation as Body);
        push(b.selectStmt, WRITE); // INSERT … SELECT / VALUES
        push(b.onConflictClause, WRITE);
        push(b.targetList, WRITE); // UPDATE … SET
        push(b.mergeWhenClauses, WRITE);
        push(b.whereClause, FILTER);
        push(b.joinCondition, FILTER);
        for (const item of [...asList(b.fromClause), ...asList(b.usingClause)]) fromItem(item);
        fromItem(b.sourceRelation);
        returning(b.returningList);
        withClause(b.withClause);
        return;
      case 'CopyStmt':
        if (!b.is_from) copyFormat = copyFormatOf(b.options);
        if (b.relation) {
          relation(b.relation as Body);
          if (!b.is_from) {
            copiedRelation = { name: relationName(b.relation as Body), columns: stringList(b.attlist) };
          }
        }
        if (b.query) {
          const query = unwrap(b.query);
          if (query?.type === 'SelectStmt') select(query.body, resultSink());
          else if (query) top(query);
        }
        return;
      case 'DeclareCursorStmt':
      case 'PrepareStmt':
        // Their rows come later (FETCH, EXECUTE), through the nested statement's facts; its filters count now.
        push(b.query, PLAN);
        return;
      case 'ExplainStmt': {
        // EXPLAIN ANALYZE runs its statement: CREATE TABLE AS and DML still store what they read.
        const query = unwrap(b.query);
        if (query && query.type !== 'SelectStmt') top(query, () => PLAN);
        else push(b.query, PLAN);
        return;
      }
      default:
        // CREATE TABLE AS, CREATE VIEW, CALL, DO, SET…: whatever they read goes somewhere else.
        push(b, WRITE);
    }
  };

  const start = unwrap(statement);
  if (start) top(start);

  while (stack.length > 0) {
    const { value, sink } = stack.pop() as { value: unknown; sink: Sink };
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) push(value[i], sink);
      continue;
    }
    const node = unwrap(value);
    if (!node) {
      for (const child of Object.values(value as Body)) push(child, sink);
      continue;
    }
    const b = node.body;
    switch (node.type) {
      case 'ColumnRef': {
        const ref = columnRef(value);
        if (ref) record(ref, sink);
        continue;
      }
      case 'SelectStmt':
        select(b, sink);
        continue;
      case 'InsertStmt':
      case 'UpdateStmt':
      case 'DeleteStmt':
      case 'MergeStmt':
        // A data-modifying CTE: its RETURNING rows go wherever the CTE's rows go.
        top({ type: node.type, body: b }, () => sink);
        continue;
      case 'RangeVar':
        relation(b);
        continue;
      case 'RangeSubselect':
      case 'JoinExpr':
      case 'RangeFunction':
      case 'RangeTableFunc':
      case 'JsonTable':
        fromItem(value);
        continue;
      case 'FuncCall':
        push(b.args, sink);
        // WITHIN GROUP (ORDER BY x): mode() and percentile_disc() return values of x.
        push(b.agg_order, b.agg_within_group === true ? sink : FILTER);
        push(b.agg_filter, FILTER);
        push(b.over, FILTER);
        continue;
      default:
        for (const child of Object.values(b)) push(child, sink);
    }
  }

  return {
    relations,
    outputs,
    stars,
    inner: inner.map(({ name, direct, refs }) => ({ name, direct, refs })),
    filters,
    writes,
    copiedRelation,
    copyFormat,
  };
}

function copyFormatOf(options: unknown): CopyFormat {
  const set = new Map<string, string | boolean>();
  for (const option of Array.isArray(options) ? options : []) {
    const def = unwrap(option);
    if (def?.type !== 'DefElem') continue;
    const arg = unwrap(def.body.arg);
    let value: string | boolean = true;
    if (arg?.type === 'String') value = String(arg.body.sval ?? '');
    else if (arg?.type === 'Boolean') value = arg.body.boolval === true;
    else if (arg?.type === 'Integer') value = Number(arg.body.ival ?? 0) !== 0;
    set.set(String(def.body.defname), value);
  }
  const format = String(set.get('format') ?? 'text').toLowerCase();
  const kind = format === 'csv' ? 'csv' : format === 'binary' ? 'binary' : 'text';
  const text = (name: string, fallback: string) => {
    const v = set.get(name);
    return typeof v === 'string' ? v : fallback;
  };
  const header = set.get('header');
  const quote = text('quote', '"');
  return {
    kind,
    delimiter: text('delimiter', kind === 'csv' ? ',' : '\t'),
    nullString: text('null', kind === 'csv' ? '' : '\\N'),
    quote,
    escape: text('escape', quote),
    header:
      kind !== 'binary' &&
      (header === true || (typeof header === 'string' && /^(true|on|1|match)$/i.test(header))),
  };
}

function asList(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

/** A ColumnRef node's parts, or null when `value` is not one. */
function columnRef(value: unknown): ColumnRefFact | null {
  const node = unwrap(value);
  if (node?.type !== 'ColumnRef' || !Array.isArray(node.body.fields)) return null;
  const parts: string[] = [];
  for (const field of node.body.fields) {
    const part = unwrap(field);
    if (part?.type === 'String') parts.push(String(part.body.sval ?? ''));
    else if (part?.type === 'A_Star') parts.push('*');
  }
  if (parts.length === 0) return null;
  return {
    qualifier: parts.length > 1 ? (parts[parts.length - 2] as string) : null,
    name: parts.at(-1) as string,
  };
}

/** The integer constants of an ORDER BY / GROUP BY / DISTINCT ON list: result columns by position. */
function positions(list: unknown): number[] {
  if (!Array.isArray(list)) return [];
  const out: number[] = [];
  for (const item of list) {
    let node = unwrap(item);
    if (node?.type === 'SortBy') node = unwrap(node.body.node);
    // An integer constant: { A_Const: { ival: { ival: n } } }.
    const ival = node?.type === 'A_Const' ? (node.body.ival as Body | undefined) : undefined;
    const n = Number(ival?.ival);
    if (Number.isInteger(n) && n > 0) out.push(n);
  }
  return out;
}

function stringList(nodes: unknown): string[] {
  if (!Array.isArray(nodes)) return [];
  const out: string[] = [];
  for (const n of nodes) {
    const node = unwrap(n);
    if (node?.type === 'String') out.push(String(node.body.sval ?? ''));
  }
  return out;
}
