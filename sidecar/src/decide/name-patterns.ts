/**
 * Table and function name patterns, compiled once per policy into a single
 * anchored RegExp, so testing a name costs one regex run and no allocation.
 *
 * The matching rule (docs/policy.md, "Name patterns"):
 * - "*" matches any run of characters and "?" one character, never a ".";
 * - a pattern without a schema ("orders") matches the name in every schema,
 *   qualified or not;
 * - a pattern with a schema ("public.orders") matches that qualified name and
 *   also the unqualified name ("orders"): the classifier does not track the
 *   session's search_path, so an unqualified name may be in any schema;
 * - case-insensitive: PostgreSQL folds unquoted names to lower case, and a
 *   deny rule written as "Orders" must not miss orders.
 */

/** Matches nothing: an empty pattern list. */
const NOTHING = /(?!)/;

export function namePatternRegExp(patterns: readonly string[]): RegExp {
  if (patterns.length === 0) return NOTHING;
  // Any qualification: the classifier reports schema.name, but a deny pattern must not depend on
  // how many qualifying parts a name has. Hoisted out of the alternation so it is matched once.
  const anyQualifier = '(?:[^.]*\\.)*';
  const bare = patterns.filter((p) => !p.includes('.'));
  const qualified = patterns.filter((p) => p.includes('.'));
  const alternatives = qualified.map((p) => {
    const dot = p.indexOf('.');
    return `(?:${anyQualifier}${partSource(p.slice(0, dot))}\\.)?${partSource(p.slice(dot + 1))}`;
  });
  if (bare.length > 0) alternatives.push(`${anyQualifier}(?:${bare.map(partSource).join('|')})`);
  return new RegExp(`^(?:${alternatives.join('|')})$`, 'i');
}

function partSource(part: string): string {
  let out = '';
  for (const ch of part) {
    if (ch === '*') out += '[^.]*';
    else if (ch === '?') out += '[^.]';
    else out += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return out;
}
