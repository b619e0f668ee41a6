import { CODE } from './corpus-code.js';
import { QUERIES } from './corpus-queries.js';
import type { CorpusRow } from './corpus-row.js';
import { SCHEMA } from './corpus-schema.js';
import { SESSION } from './corpus-session.js';

export type { CorpusRow } from './corpus-row.js';

/** Every corpus statement with the facts the classifier must produce for it. */
export const CORPUS: readonly CorpusRow[] = [...QUERIES, ...SESSION, ...CODE, ...SCHEMA];

/** Rows holding exactly one statement. */
export const SINGLE_STATEMENTS = CORPUS.filter((row) => !Array.isArray(row.kind));
