import { describe, expect, it } from 'vitest';
import { namePatternRegExp } from '../../src/decide/name-patterns.js';

describe('name patterns', () => {
  const cases: [pattern: string, name: string, matches: boolean][] = [
    // A pattern without a schema: the name in any schema, qualified or not.
    ['orders', 'orders', true],
    ['orders', 'public.orders', true],
    ['orders', 'audit.orders', true],
    ['orders', 'orders_archive', false],
    ['orders', 'public.orders_archive', false],
    // A pattern with a schema: that name, and the unqualified name by its name part.
    ['public.orders', 'public.orders', true],
    ['public.orders', 'orders', true],
    ['public.orders', 'audit.orders', false],
    ['public.*', 'public.orders', true],
    ['public.*', 'orders', true],
    ['public.*', 'audit.orders', false],
    ['*.orders', 'audit.orders', true],
    ['*.orders', 'orders', true],
    // Wildcards stay within one part.
    ['pub*', 'public.orders', false],
    ['*', 'public.orders', true],
    ['*', 'orders', true],
    ['?rders', 'orders', true],
    ['?rders', 'rders', false],
    ['order?', 'orders', true],
    ['pg_read_*', 'pg_read_file', true],
    ['pg_read_*', 'pg_catalog.pg_read_binary_file', true],
    ['pg_*replication_slot*', 'pg_create_logical_replication_slot', true],
    ['dblink*', 'dblink_exec', true],
    ['lo_*', 'lower', false],
    // Case-insensitive: a deny rule written in capitals must not miss folded names.
    ['Public.Orders', 'public.orders', true],
    ['orders', 'public.ORDERS', true],
    // Regex metacharacters in names are literal.
    ['a$b', 'a$b', true],
    ['a+b', 'aab', false],
    // Quoted names holding a dot never pass for a schema-qualified name.
    ['my.table', '"my.table"', false],
    ['table', '"my.table"', false],
    // The catalog part of a three-part name does not hide the table.
    ['orders', 'db.public.orders', true],
    ['public.orders', 'db.public.orders', true],
  ];

  it.each(cases)('%s vs %s → %s', (pattern, name, matches) => {
    expect(namePatternRegExp([pattern]).test(name)).toBe(matches);
  });

  it('matches when any pattern of a list matches', () => {
    const re = namePatternRegExp(['public.orders', 'audit.*']);
    expect(re.test('audit.log')).toBe(true);
    expect(re.test('public.orders')).toBe(true);
    expect(re.test('public.customers')).toBe(false);
  });

  it('matches nothing for an empty list', () => {
    expect(namePatternRegExp([]).test('orders')).toBe(false);
    expect(namePatternRegExp([]).test('')).toBe(false);
  });
});
