import { clientUser } from './psql.js';

export interface Step {
  title: string;
  note: string;
  /** Run in one session, in order. */
  statements: string[];
  /** What the output must show; the demo fails otherwise, so CI notices a regression. */
  expect: RegExp[];
  /** Decisions a human takes, in order, on the statements the session holds for approval. */
  decisions?: ApproverDecision[];
  /** The session whose recording the demo replays at the end. */
  replay?: true;
}

export interface ApproverDecision {
  action: 'approve' | 'deny';
  /** The approver (the policy's approvers.users names alice). */
  as: string;
  reason: string;
}

const tablesExist =
  "SELECT to_regclass('customers') IS NOT NULL AS customers_exists, to_regclass('orders') IS NOT NULL AS orders_exists;";
const oldOrders =
  "SELECT count(*) AS first_week_orders FROM orders WHERE ordered_at < '2026-01-05 00:00+00';";

/** The scripted session for runs without a terminal. */
export const walkthrough: readonly Step[] = [
  {
    title: 'Who is connected',
    note: `psql asked for user "${clientUser}"; the proxy ignores that and logs in with its configured role.`,
    statements: ['SELECT current_user, current_database();'],
    expect: [/scram_user/],
  },
  {
    title: 'Read customer PII: masked on the wire',
    note:
      'Rule "reads" allows the SELECT; spec.masking rewrites the result before it leaves the proxy:\n' +
      'ssn partial (last 4), email hash (same input, same output: still joinable), card redacted,\n' +
      'phone partial. PostgreSQL still holds the real values.',
    statements: [
      'SELECT id, full_name, email, ssn, phone, card_number FROM customers ORDER BY id LIMIT 5;',
      'SELECT c.full_name, count(*) AS orders, round(sum(o.amount_cents) / 100.0, 2) AS total FROM orders o ' +
        'JOIN customers c ON c.id = o.customer_id GROUP BY c.full_name ORDER BY total DESC LIMIT 5;',
    ],
    expect: [/\(5 rows\)/, /\*\*\*-\*\*-0001/, /h:[0-9a-f]{16}/, /\[redacted\]/],
  },
  {
    title: 'Getting around the masks',
    note:
      'A value computed from a masked column is masked too; filtering on one would answer questions\n' +
      'about it (masking.predicates: deny); a free-text value is caught by the content detectors.',
    statements: [
      "SELECT upper(ssn) AS ssn_upper, email || '' AS email_copy, row_to_json(c) AS whole_row FROM customers c LIMIT 1;",
      "SELECT full_name FROM customers WHERE ssn LIKE '900-12-00%';",
      "SELECT 'card on file: 4111 1111 1111 1111, mail ada.fictional@example.com' AS note;",
    ],
    expect: [
      /\[redacted\] +\| \[redacted\]/,
      /denied by rule "masking-predicates"/,
      /card on file: \[redacted\], mail \[redacted\]/,
    ],
  },
  {
    title: 'DROP TABLE: blocked',
    note: 'Rule "no-ddl" denies schema changes. The statement never reaches PostgreSQL; the tables are still there.',
    statements: ['DROP TABLE orders, customers;', tablesExist],
    expect: [/ERROR: {2}pgwarden: denied by rule "no-ddl"/, / t {16}\| t/],
  },
  {
    title: 'DELETE: held for a human',
    note:
      'Rule "writes-need-approval" holds writes to public.* for approval (spec.approval). psql waits,\n' +
      'told why by a NOTICE; a human approves from a second terminal with `pgwarden approvals approve`,\n' +
      'and the DELETE runs exactly as sent. The session is recorded; step 7 replays it.',
    statements: [oldOrders, "DELETE FROM orders WHERE ordered_at < '2026-01-05 00:00+00';", oldOrders],
    expect: [
      /^ +12$/m,
      /NOTICE: {2}pgwarden: statement held for approval apr-[0-9a-z]+ by rule "writes-need-approval"/,
      /^DELETE 12$/m,
      /^ +0$/m,
    ],
    decisions: [
      { action: 'approve', as: 'alice', reason: 'purging the test orders of the first week is planned' },
    ],
    replay: true,
  },
  {
    title: 'Tricks are decided from the parse tree',
    note:
      'A DELETE hidden in a CTE (held; the approver denies it), a DROP stacked after a SELECT, and a\n' +
      'server-file read are each caught; a refused message runs none of its statements.',
    statements: [
      'WITH gone AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM gone;',
      // psql sends statements joined with \\; as one Query message.
      'SELECT 1 AS harmless \\; DROP TABLE orders;',
      "SELECT pg_read_file('/etc/passwd');",
      'SELECT count(*) AS orders_left FROM orders;',
    ],
    expect: [
      /ERROR: {2}pgwarden: approval apr-[0-9a-z]+ denied by alice: deleting orders is not the agent's job/,
      /denied by rule "no-ddl"/,
      /function-deny-list/,
      /^ +48$/m,
    ],
    decisions: [{ action: 'deny', as: 'alice', reason: "deleting orders is not the agent's job" }],
  },
];
