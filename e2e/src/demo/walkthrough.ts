import { clientUser } from './psql.js';

export interface Step {
  title: string;
  note: string;
  /** Run in one session, in order. */
  statements: string[];
}

const tablesExist =
  "SELECT to_regclass('customers') IS NOT NULL AS customers_exists, to_regclass('orders') IS NOT NULL AS orders_exists;";
const changedEmails =
  "SELECT count(*) AS changed_emails FROM customers WHERE email LIKE 'nobody%@example.net';";

/** The scripted session for runs without a terminal. */
export const walkthrough: readonly Step[] = [
  {
    title: 'Who is connected',
    note: `psql asked for user "${clientUser}"; the proxy ignores that and logs in with its configured role.`,
    statements: ['SELECT current_user, current_database();'],
  },
  {
    title: 'Read customer PII',
    note: 'Not masked at this stage: names, e-mails, SSNs, phone and card numbers pass through as stored.',
    statements: [
      'SELECT id, full_name, email, ssn, phone, card_number FROM customers ORDER BY id;',
      'SELECT c.full_name, count(*) AS orders, round(sum(o.amount_cents) / 100.0, 2) AS total FROM orders o ' +
        'JOIN customers c ON c.id = o.customer_id GROUP BY c.full_name ORDER BY total DESC LIMIT 5;',
    ],
  },
  {
    title: 'DROP TABLE (rolled back)',
    note: 'Not blocked at this stage: blocking comes with the policy engine. The demo rolls it back.',
    statements: ['BEGIN;', 'DROP TABLE orders, customers;', tablesExist, 'ROLLBACK;', tablesExist],
  },
  {
    title: 'Bulk UPDATE (rolled back)',
    note: 'Not held for approval at this stage: approvals come with the policy engine. Rolled back too.',
    statements: [
      'BEGIN;',
      "UPDATE customers SET email = 'nobody' || id || '@example.net' WHERE city = 'Springfield';",
      changedEmails,
      'ROLLBACK;',
      changedEmails,
    ],
  },
];
