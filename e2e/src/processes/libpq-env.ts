/**
 * libpq settings for pgbench and psql: only ours, none inherited (PGSERVICE, PGOPTIONS… would
 * change what is measured), and no TLS or GSS negotiation, which only the direct path could use.
 */
export function libpqEnv(password: string | undefined): Record<string, string | undefined> {
  const inherited = Object.keys(process.env).filter((name) => name.startsWith('PG'));
  return {
    ...Object.fromEntries(inherited.map((name) => [name, undefined])),
    PGSSLMODE: 'disable',
    PGGSSENCMODE: 'disable',
    PGPASSWORD: password,
  };
}
