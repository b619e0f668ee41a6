/**
 * Reads the parser's node type definitions from the installed @pgsql/types (the
 * package libpg-query's types come from), so tests notice when a parser upgrade
 * adds node types or fields.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface ParserTypes {
  /** Every member of the Node union, e.g. "SelectStmt", "RangeVar". */
  nodeTypes: string[];
  /** Every field of every interface, with its declared type ("Node", "RangeVar", "string"…). */
  fields: { owner: string; field: string; type: string }[];
}

export function readParserTypes(): ParserTypes {
  const require = createRequire(import.meta.url);
  const fromLibpg = createRequire(require.resolve('libpg-query'));
  const source = readFileSync(
    join(dirname(fromLibpg.resolve('@pgsql/types/package.json')), 'types.d.ts'),
    'utf8',
  );

  const union = /export type Node =([\s\S]*?)\n\};\n/.exec(source)?.[1];
  if (union === undefined) throw new Error('Node union not found in @pgsql/types');
  const nodeTypes = [...union.matchAll(/^\s+(\w+): \w+;$/gm)].map((m) => m[1] ?? '');

  const fields: ParserTypes['fields'] = [];
  for (const [, owner = '', body = ''] of source.matchAll(/export interface (\w+) \{([^}]*)\}/g)) {
    for (const [, field = '', type = ''] of body.matchAll(/^\s+(\w+)\??: (\w+)(?:\[\])?;$/gm)) {
      fields.push({ owner, field, type });
    }
  }
  return { nodeTypes, fields };
}
