import type { Node, RangeVar } from 'libpg-query';

/**
 * Renders a possibly qualified name as "schema.name". A part that itself holds a
 * dot or a double quote is double-quoted (quotes doubled), so a table literally
 * named "public.users" can never pass for public.users in a policy match.
 */
export function qualifiedName(parts: readonly string[]): string {
  return parts.map((part) => (/[."]/.test(part) ? `"${part.replaceAll('"', '""')}"` : part)).join('.');
}

/** The strings of a name list such as FuncCall.funcname or DropStmt's object names. */
export function nameParts(nodes: readonly Node[] | undefined): string[] {
  const parts: string[] = [];
  for (const node of nodes ?? []) {
    if ('String' in node) parts.push(node.String.sval ?? '');
  }
  return parts;
}

/**
 * A relation's name, "schema.rel" when qualified. The catalog (database) part is
 * dropped: PostgreSQL only accepts the current database there, so it names the
 * same table. A relation being created TEMP lives in pg_temp, which is how it is
 * reported, so policies can tell temporary tables apart.
 */
export function relationName(rv: RangeVar): string {
  const rel = rv.relname ?? '';
  if (rv.relpersistence === 't') return qualifiedName(['pg_temp', rel]);
  return qualifiedName(rv.schemaname ? [rv.schemaname, rel] : [rel]);
}

/** A function's name, lower-case, "schema.name" when qualified (the catalog part dropped). */
export function functionName(funcname: readonly Node[] | undefined): string {
  return qualifiedName(
    nameParts(funcname)
      .slice(-2)
      .map((part) => part.toLowerCase()),
  );
}
