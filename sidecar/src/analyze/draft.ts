import type { Node } from 'libpg-query';
import type { Collected } from './collect.js';
import type { StatementFacts, StatementKind } from './facts.js';

/** Facts under construction: what the tree walk collected plus what statement handlers add. */
export interface Draft extends Collected {
  nodeType: string;
  explainAnalyze: boolean;
  copy: StatementFacts['copy'];
  transactionReadWrite: boolean | null;
  inner: StatementFacts | null;
  refersTo: StatementFacts['refersTo'];
  defines: StatementFacts['defines'];
  columns: StatementFacts['columns'];
}

/** Classifies a statement nested in another (PREPARE's query, EXPLAIN's target…). */
export type Nested = (statement: Node | undefined) => StatementFacts;

/**
 * How a top-level node type gets its kind: a fixed kind, or a handler that reads
 * the node (and the draft) and may add facts to the draft.
 */
export type Resolver<B> = StatementKind | ((body: B, draft: Draft, nested: Nested) => StatementKind);

export function newDraft(nodeType: string, collected: Collected, columns: StatementFacts['columns']): Draft {
  return {
    ...collected,
    nodeType,
    explainAnalyze: false,
    copy: null,
    transactionReadWrite: null,
    inner: null,
    refersTo: null,
    defines: null,
    columns,
  };
}

export function finish(kind: StatementKind, draft: Draft): StatementFacts {
  return {
    kind,
    nodeType: draft.nodeType,
    tablesRead: [...draft.tablesRead].sort(),
    tablesWritten: [...draft.tablesWritten].sort(),
    functions: [...draft.functions].sort(),
    locksRows: draft.locksRows,
    dataModifyingCte: draft.dataModifyingCte,
    explainAnalyze: draft.explainAnalyze,
    copy: draft.copy,
    settings: draft.settings,
    transactionReadWrite: draft.transactionReadWrite,
    inner: draft.inner,
    refersTo: draft.refersTo,
    defines: draft.defines,
    columns: draft.columns,
  };
}
