/**
 * Queries that try to read masked data by every route we know, against the
 * schema in leakage.test.ts. `outcome` is what pgwarden must do: return rows
 * (masked), refuse with a masking rule, or let PostgreSQL fail the statement
 * (its error text masked). In every case no seeded sensitive value may reach
 * the client.
 */
export type LeakOutcome =
  | 'rows'
  | 'error'
  | 'masking-predicates'
  | 'masking-derived'
  | 'masking-write'
  | 'masking-copy';

export interface LeakProbe {
  readonly sql: string;
  readonly outcome: LeakOutcome;
  /** Runs only as a simple Query (several statements, COPY). */
  readonly simpleOnly?: boolean;
  /** Only the content detectors stand between these values and the client (no rule names them). */
  readonly detectorsOnly?: boolean;
}

const rows = (sql: string): LeakProbe => ({ sql, outcome: 'rows' });
const refused = (outcome: LeakOutcome, sql: string): LeakProbe => ({ sql, outcome });
const simple = (outcome: LeakOutcome, sql: string): LeakProbe => ({ sql, outcome, simpleOnly: true });

export const LEAK_PROBES: readonly LeakProbe[] = [
  // The columns themselves, every way of naming them.
  rows('SELECT * FROM customers'),
  rows('SELECT ssn, email, card_number, phone, notes, customer_key, loyalty_no FROM customers'),
  rows('SELECT c.* FROM customers c'),
  rows('SELECT customers.ssn FROM customers'),
  rows('SELECT public.customers.ssn FROM public.customers'),
  rows('TABLE customers'),
  rows('SELECT ssn AS x, email AS "Email" FROM customers'),
  rows('SELECT "ssn" FROM "customers"'),
  rows('SELECT * FROM patients'),
  rows('SELECT dob, name FROM patients'),
  rows('SELECT id, email FROM orders'),
  // Partitions: a rule on the parent covers each partition, whatever its column order.
  rows('SELECT * FROM events'),
  rows('SELECT ssn FROM events_low'),
  rows('SELECT * FROM events_high'),
  rows('SELECT upper(ssn) FROM ONLY events_high'),
  // Through subqueries, CTEs and set operations.
  rows('SELECT x FROM (SELECT ssn AS x FROM customers) s'),
  rows('SELECT * FROM (SELECT ssn, email FROM customers) s'),
  rows('SELECT s.* FROM (SELECT card_number FROM customers) s'),
  rows('WITH t AS (SELECT ssn FROM customers) SELECT * FROM t'),
  rows('WITH t(a) AS (SELECT ssn FROM customers) SELECT a FROM t'),
  rows(
    'WITH RECURSIVE t(v) AS (SELECT ssn FROM customers UNION SELECT v FROM t WHERE false) SELECT v FROM t',
  ),
  rows('SELECT ssn FROM customers UNION SELECT email FROM customers'),
  rows("SELECT ssn FROM customers UNION ALL SELECT 'x'"),
  rows("SELECT 'x' UNION ALL SELECT ssn FROM customers"),
  rows('SELECT ssn FROM customers INTERSECT SELECT ssn FROM customers'),
  rows("SELECT card_number FROM customers EXCEPT SELECT 'a'"),
  rows('SELECT * FROM (SELECT ssn FROM customers UNION ALL SELECT email FROM customers) u'),
  rows('VALUES ((SELECT ssn FROM customers LIMIT 1))'),
  // Computed from masked columns.
  rows('SELECT upper(ssn) FROM customers'),
  rows("SELECT ssn || '' FROM customers"),
  rows('SELECT ssn::text, email::varchar FROM customers'),
  rows('SELECT substr(ssn, 1, 3) || substr(ssn, 4) FROM customers'),
  rows("SELECT coalesce(ssn, '') FROM customers"),
  rows('SELECT row_to_json(c) FROM customers c'),
  rows('SELECT to_jsonb(c.*) FROM customers c'),
  rows('SELECT to_json(c) FROM customers c'),
  rows('SELECT c FROM customers c'),
  rows('SELECT (c).ssn FROM customers c'),
  rows('SELECT customers FROM customers'),
  rows("SELECT string_agg(ssn, ',') FROM customers"),
  rows('SELECT array_agg(email) FROM customers'),
  rows("SELECT json_build_object('s', ssn, 'e', email) FROM customers"),
  rows('SELECT json_agg(c) FROM customers c'),
  rows('SELECT (SELECT ssn FROM customers LIMIT 1)'),
  rows('SELECT (SELECT max(card_number) FROM customers) AS m'),
  rows('SELECT reverse(ssn) FROM customers'),
  rows("SELECT replace(card_number, ' ', '') FROM customers"),
  rows("SELECT translate(ssn, '0123456789', 'abcdefghij') FROM customers"),
  rows("SELECT encode(convert_to(email, 'UTF8'), 'hex') FROM customers"),
  rows("SELECT format('%s', email) FROM customers"),
  rows("SELECT concat_ws(',', email, ssn) FROM customers"),
  rows('SELECT l.s FROM customers c, LATERAL (SELECT c.ssn AS s) l'),
  rows('SELECT s FROM customers c CROSS JOIN LATERAL (SELECT upper(c.ssn) AS s) l'),
  rows('SELECT * FROM customers c, LATERAL (SELECT c.email) l'),
  rows('SELECT unnest(ARRAY[ssn, email]) FROM customers'),
  rows('SELECT * FROM unnest(ARRAY(SELECT ssn FROM customers)) u'),
  rows('SELECT u FROM unnest(ARRAY(SELECT card_number FROM customers)) u'),
  rows('SELECT jsonb_build_array(phone) FROM customers'),
  rows('SELECT xmlelement(name x, ssn) FROM customers'),
  rows('SELECT CASE WHEN true THEN ssn END FROM customers'),
  rows('SELECT ssn COLLATE "C" FROM customers'),
  rows('SELECT quote_literal(email) FROM customers'),
  rows('SELECT md5(ssn) FROM customers'),
  rows('SELECT customer_key::text, loyalty_no + 0 FROM customers'),
  rows('SELECT upper(notes) FROM customers'),
  rows("SELECT to_char(dob, 'YYYY-MM-DD') FROM patients"),
  // Values not named by a rule: the detectors.
  { ...rows('SELECT profile FROM customers'), detectorsOnly: true },
  { ...rows("SELECT profile->>'contact', profile->>'card' FROM customers"), detectorsOnly: true },
  { ...rows("SELECT profile #>> '{contact}' FROM customers"), detectorsOnly: true },
  // Views and materialized views built on masked columns.
  rows('SELECT * FROM customer_contacts'),
  rows('SELECT ssn_upper, mail FROM customer_contacts'),
  rows('SELECT * FROM contacts_mv'),
  rows('SELECT * FROM contacts_of_contacts'),
  refused('masking-predicates', 'SELECT * FROM vip_customers'),
  // Filters, joins, sorts and groups on masked columns are oracles.
  refused('masking-predicates', "SELECT id FROM customers WHERE ssn LIKE '1%'"),
  refused('masking-predicates', "SELECT id FROM customers WHERE email = 'x@example.com'"),
  refused('masking-predicates', 'SELECT count(*) FROM customers GROUP BY ssn'),
  refused('masking-predicates', 'SELECT id FROM customers ORDER BY card_number'),
  refused('masking-predicates', 'SELECT ssn FROM customers ORDER BY 1'),
  refused('masking-predicates', 'SELECT ssn AS x FROM customers ORDER BY x'),
  refused('masking-predicates', 'SELECT o.id FROM customers c JOIN orders o ON o.note = c.ssn'),
  refused('masking-predicates', 'SELECT 1 FROM customers a JOIN customers b USING (ssn)'),
  refused('masking-predicates', "SELECT count(*) FILTER (WHERE ssn LIKE '1%') FROM customers"),
  refused('masking-predicates', 'SELECT id, row_number() OVER (ORDER BY ssn) FROM customers'),
  refused('masking-predicates', 'SELECT DISTINCT ON (ssn) id FROM customers'),
  refused(
    'masking-predicates',
    "SELECT id FROM customers WHERE id IN (SELECT id FROM customers WHERE ssn > '5')",
  ),
  refused('masking-predicates', "SELECT EXISTS (SELECT 1 FROM customers WHERE card_number LIKE '4%')"),
  refused('masking-predicates', "SELECT string_agg(full_name, ',' ORDER BY ssn) FROM customers"),
  refused('masking-predicates', "EXPLAIN SELECT id FROM customers WHERE ssn = '123-45-6789'"),
  refused('masking-predicates', "EXPLAIN ANALYZE SELECT id FROM customers WHERE ssn = 'x'"),
  refused('masking-predicates', "UPDATE customers SET city = city WHERE email = 'x'"),
  refused('masking-predicates', 'DELETE FROM scratch WHERE note IN (SELECT ssn FROM customers)'),
  refused('masking-predicates', "SELECT id FROM customers WHERE notes LIKE '%a%'"),
  // Copies of masked values into something readable.
  refused('masking-write', 'INSERT INTO scratch SELECT id, ssn FROM customers'),
  refused('masking-write', 'UPDATE scratch SET note = (SELECT ssn FROM customers LIMIT 1)'),
  refused('masking-write', 'CREATE TABLE leak AS SELECT ssn FROM customers'),
  refused('masking-write', 'SELECT ssn INTO leak2 FROM customers'),
  refused('masking-write', 'CREATE VIEW leakv AS SELECT ssn FROM customers'),
  refused('masking-write', 'CREATE MATERIALIZED VIEW leakmv AS SELECT email FROM customers'),
  refused(
    'masking-write',
    'INSERT INTO scratch (id, note) VALUES (1, (SELECT email FROM customers LIMIT 1))',
  ),
  refused('masking-write', 'UPDATE customers SET city = ssn WHERE id = 1'),
  refused('masking-write', 'WITH s AS (SELECT ssn FROM customers) INSERT INTO scratch SELECT 1, ssn FROM s'),
  simple('masking-write', 'PREPARE leakp AS SELECT ssn FROM customers; CREATE TABLE leak3 AS EXECUTE leakp'),
  // COPY TO: masked fields rewritten in text and CSV rows; binary COPY and * of masked tables refused.
  simple('rows', 'COPY customers TO STDOUT'),
  simple('rows', 'COPY customers (ssn) TO STDOUT WITH (FORMAT csv)'),
  simple('rows', "COPY customers TO STDOUT WITH (FORMAT csv, HEADER, DELIMITER ';')"),
  simple(
    'rows',
    "COPY customers (id, notes, card_number, loyalty_no) TO STDOUT WITH (FORMAT text, DELIMITER '|', NULL 'NIL')",
  ),
  simple(
    'rows',
    "COPY customers (email, full_name) TO STDOUT WITH (FORMAT csv, QUOTE '''', ESCAPE '\\', FORCE_QUOTE *)",
  ),
  simple('rows', 'COPY (SELECT email FROM customers) TO STDOUT'),
  simple('rows', 'COPY (SELECT upper(ssn), id FROM customers) TO STDOUT WITH (FORMAT csv)'),
  simple('rows', 'COPY events_high TO STDOUT'),
  simple('rows', 'COPY customers (id, city) TO STDOUT'),
  simple('masking-copy', 'COPY (SELECT * FROM customers) TO STDOUT (FORMAT binary)'),
  simple('masking-copy', 'COPY customers (ssn) TO STDOUT (FORMAT binary)'),
  simple('masking-copy', 'COPY (SELECT * FROM customers) TO STDOUT'),
  // Cursors and SQL-level prepared statements.
  simple(
    'rows',
    'BEGIN; DECLARE cur CURSOR FOR SELECT ssn, upper(email) FROM customers; FETCH ALL FROM cur; CLOSE cur; COMMIT',
  ),
  simple(
    'rows',
    'BEGIN; DECLARE cur2 CURSOR FOR SELECT * FROM customers; FETCH 3 FROM cur2; FETCH ALL FROM cur2; COMMIT',
  ),
  simple('rows', 'PREPARE p1 AS SELECT upper(ssn), email FROM customers; EXECUTE p1; DEALLOCATE p1'),
  simple(
    'rows',
    'PREPARE p2(int) AS SELECT card_number FROM customers WHERE id = $1; EXECUTE p2(1); DEALLOCATE p2',
  ),
  // RETURNING.
  rows('UPDATE customers SET city = city WHERE id = 1 RETURNING ssn, email'),
  rows('UPDATE customers SET city = city WHERE id = 2 RETURNING upper(ssn), card_number'),
  rows('UPDATE customers SET city = city WHERE id = 3 RETURNING *'),
  rows('WITH u AS (UPDATE customers SET city = city WHERE id = 4 RETURNING ssn) SELECT * FROM u'),
  // Errors that would quote a value.
  refused('error', 'SELECT ssn::int FROM customers'),
  refused('error', 'SELECT card_number::numeric FROM customers'),
  refused('error', 'SELECT email::uuid FROM customers'),
  refused('error', 'UPDATE customers SET phone = NULL WHERE id = 1'),
  refused('error', "UPDATE customers SET city = repeat('x', 200) WHERE id = 2"),
];

/** An INSERT whose e-mail collides with a seeded one: PostgreSQL quotes the existing key in DETAIL. */
export const UNIQUE_VIOLATION_TEMPLATE =
  "INSERT INTO customers (id, full_name, email, ssn, phone, card_number, city, customer_key, loyalty_no) VALUES (1000, 'Dup', '%EMAIL%', '000-00-0000', '+1 202-555-0199', '0', 'x', gen_random_uuid(), 1)";
