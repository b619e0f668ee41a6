import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { usePostgres } from '@pgwarden/e2e';
import type pg from 'pg';
import Cursor from 'pg-cursor';
import postgres from 'postgres';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ClientPool, counterValue, psql } from '../integration/helpers.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import { LEAK_PROBES, type LeakProbe, UNIQUE_VIOLATION_TEMPLATE } from './leakage-corpus.js';

/**
 * The leakage corpus, end to end: real PostgreSQL with seeded PII, the proxy
 * with a masking policy, and real clients (psql, node-postgres in text and
 * binary, postgres.js) connected through a byte tap. The assertion is about
 * bytes: no seeded sensitive value, in any of the forms checked, appears in
 * anything the proxy sends to a client.
 */

const HASH_KEY = 'leakage-corpus-hash-key-0123456789';
const policy = fileURLToPath(new URL('./fixtures/masking.yaml', import.meta.url));

interface Person {
  id: number;
  name: string;
  email: string;
  ssn: string;
  phone: string;
  card: string;
  notes: string;
  key: string;
  loyalty: string;
  contact: string;
  profileCard: string;
}

const people: Person[] = Array.from({ length: 12 }, (_, i) => {
  const n = i + 1;
  const d = String(n).padStart(2, '0');
  return {
    id: n,
    name: `Person ${d}`,
    email: `person.${d}.secret@example.com`,
    ssn: `${123 + n}-${45 + n}-${6700 + n}`,
    phone: `+1 202-555-01${d}`,
    card: ['4111 1111 1111 1111', '5555 5555 5555 4444', '4242 4242 4242 4242', '6011 1111 1111 1117'][
      i % 4
    ] as string,
    notes: `diagnosis-${d}-confidential-xyz`,
    key: `${d}345678-1234-4abc-8def-${d}3456789abc`,
    loyalty: String(8_800_000_000_000 + n * 7919),
    contact: `backup.${d}@example.org`,
    profileCard: '4000 0566 5566 5556',
  };
});
const dobs = ['1961-03-17', '1974-11-02', '1988-07-29'];

const schema = `
  CREATE TABLE customers (
    id int PRIMARY KEY, full_name text NOT NULL, email text NOT NULL UNIQUE, ssn text NOT NULL,
    phone text NOT NULL, card_number text NOT NULL, city text NOT NULL CHECK (length(city) < 100),
    notes text, profile jsonb, customer_key uuid NOT NULL, loyalty_no bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT '2026-01-01');
  COMMENT ON COLUMN customers.notes IS 'pii: free-text medical notes';
  CREATE TABLE patients (id int PRIMARY KEY, name text, dob date);
  CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, email text, note text);
  CREATE TABLE scratch (id int, note text);
  CREATE TABLE events (id int, ssn text) PARTITION BY RANGE (id);
  CREATE TABLE events_low PARTITION OF events FOR VALUES FROM (0) TO (7);
  CREATE TABLE events_high (ssn text, id int);
  ALTER TABLE events ATTACH PARTITION events_high FOR VALUES FROM (7) TO (100);
  ${people
    .map(
      (p) =>
        `INSERT INTO customers VALUES (${p.id}, '${p.name}', '${p.email}', '${p.ssn}', '${p.phone}', '${p.card}', 'City ${p.id}', '${p.notes}', '{"contact": "${p.contact}", "card": "${p.profileCard}"}', '${p.key}', ${p.loyalty});
         INSERT INTO orders VALUES (${p.id}, ${p.id}, '${p.email}', 'order ${p.id}');
         INSERT INTO events VALUES (${p.id}, '${p.ssn}');`,
    )
    .join('\n')}
  ${dobs.map((dob, i) => `INSERT INTO patients VALUES (${i + 1}, 'Patient ${i + 1}', '${dob}');`).join('\n')}
  CREATE VIEW customer_contacts AS SELECT id, email AS mail, upper(ssn) AS ssn_upper, city FROM customers;
  CREATE VIEW contacts_of_contacts AS SELECT mail, ssn_upper FROM customer_contacts;
  CREATE VIEW vip_customers AS SELECT id, full_name FROM customers WHERE ssn LIKE '1%';
  CREATE MATERIALIZED VIEW contacts_mv AS SELECT id, email, card_number FROM customers;
  GRANT ALL ON ALL TABLES IN SCHEMA public TO PUBLIC;
`;

/** Every form of every seeded sensitive value that must never reach a client. */
function needles(): { label: string; bytes: Buffer }[] {
  const out: { label: string; bytes: Buffer }[] = [];
  const text = (label: string, value: string) => {
    out.push({ label, bytes: Buffer.from(value) });
    out.push({ label: `${label} (upper)`, bytes: Buffer.from(value.toUpperCase()) });
    out.push({ label: `${label} (reversed)`, bytes: Buffer.from([...value].reverse().join('')) });
  };
  for (const p of people) {
    text(`email ${p.id}`, p.email);
    text(`ssn ${p.id}`, p.ssn);
    text(`card ${p.id}`, p.card);
    out.push({ label: `card digits ${p.id}`, bytes: Buffer.from(p.card.replaceAll(' ', '')) });
    text(`phone ${p.id}`, p.phone);
    text(`notes ${p.id}`, p.notes);
    text(`customer_key ${p.id}`, p.key);
    out.push({ label: `customer_key binary ${p.id}`, bytes: Buffer.from(p.key.replaceAll('-', ''), 'hex') });
    out.push({ label: `loyalty ${p.id}`, bytes: Buffer.from(p.loyalty) });
    const loyalty = Buffer.alloc(8);
    loyalty.writeBigInt64BE(BigInt(p.loyalty));
    out.push({ label: `loyalty binary ${p.id}`, bytes: loyalty });
    text(`profile contact ${p.id}`, p.contact);
    out.push({ label: `email hex ${p.id}`, bytes: Buffer.from(Buffer.from(p.email).toString('hex')) });
  }
  text('profile card', people[0]?.profileCard ?? '');
  for (const dob of dobs) text(`dob ${dob}`, dob);
  return out;
}

/** A TCP pass-through that keeps every byte the proxy sends towards clients. */
class ByteTap {
  private readonly server: Server;
  private received: Buffer[] = [];
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: number) {
    this.server = createServer((client) => {
      const upstream = connect(this.target, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      upstream.on('data', (chunk: Buffer) => {
        this.received.push(Buffer.from(chunk));
        client.write(chunk);
      });
      client.on('data', (chunk: Buffer) => upstream.write(chunk));
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** What clients received since the last take(). */
  take(): Buffer {
    const all = Buffer.concat(this.received);
    this.received = [];
    return all;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  url(): string {
    return `postgresql://agent@127.0.0.1:${this.port}/app`;
  }
}

const cluster = usePostgres();
let proxy: TestProxy;
let tap: ByteTap;
/** The same policy without content detectors: what column rules and the statement analysis stop alone. */
let rulesOnlyProxy: TestProxy;
let rulesOnlyTap: ByteTap;
const pool = new ClientPool();
const forbidden = needles();

beforeAll(async () => {
  await cluster().psql(schema);
  process.env.PGWARDEN_TEST_HASH_KEY = HASH_KEY;
  proxy = await startTestProxy(cluster(), { policy });
  tap = new ByteTap(proxy.port);
  await tap.start();
  const rulesOnly = join(mkdtempSync(join(tmpdir(), 'pgwarden-leakage-')), 'rules-only.yaml');
  writeFileSync(rulesOnly, readFileSync(policy, 'utf8').replace(/^ {4}detectors: .*$/m, '    detectors: []'));
  rulesOnlyProxy = await startTestProxy(cluster(), { policy: rulesOnly });
  rulesOnlyTap = new ByteTap(rulesOnlyProxy.port);
  await rulesOnlyTap.start();
});
afterEach(() => pool.endAll());
afterAll(async () => {
  await tap?.stop();
  await proxy?.drain(1000);
  await rulesOnlyTap?.stop();
  await rulesOnlyProxy?.drain(1000);
});

/** Fails with the probe and the leaked value's label when any forbidden bytes were received. */
function expectNoLeak(received: Buffer, what: string, needles = forbidden): void {
  const leaked = needles.filter((n) => n.bytes.length > 0 && received.includes(n.bytes)).map((n) => n.label);
  expect(leaked, `${what} leaked`).toEqual([]);
}

type Outcome = { kind: 'rows' } | { kind: 'refused'; code: string; message: string };

function outcomeOf(error: unknown): Outcome {
  if (!error) return { kind: 'rows' };
  const e = error as { code?: string; message?: string };
  return { kind: 'refused', code: e.code ?? '', message: e.message ?? '' };
}

function expectOutcome(probe: LeakProbe, outcome: Outcome, client: string): void {
  const what = `${client}: ${probe.sql}`;
  if (probe.outcome === 'rows') {
    expect(outcome, what).toEqual({ kind: 'rows' });
  } else if (probe.outcome === 'error') {
    expect(outcome.kind, what).toBe('refused');
  } else {
    expect(outcome, what).toMatchObject({ kind: 'refused', code: '42501' });
    expect((outcome as { message: string }).message, what).toContain(`rule "${probe.outcome}"`);
  }
}

const extendable = LEAK_PROBES.filter((p) => !p.simpleOnly);

describe('leakage corpus', () => {
  it('holds at least 80 probes', () => {
    expect(LEAK_PROBES.length).toBeGreaterThanOrEqual(80);
  });

  it('node-postgres, simple protocol: every probe, no seeded value received', async () => {
    for (const probe of LEAK_PROBES) {
      const c = await pool.pg(tap.url());
      const error = await c.query(probe.sql).then(
        () => null,
        (e: unknown) => e,
      );
      await c.end();
      expectOutcome(probe, outcomeOf(error), 'pg simple');
      expectNoLeak(tap.take(), `pg simple: ${probe.sql}`);
    }
  });

  it('node-postgres, extended protocol with binary results', async () => {
    const c = await pool.pg(tap.url());
    for (const probe of extendable) {
      const error = await c.query({ text: probe.sql, queryMode: 'extended', binary: true }).then(
        () => null,
        (e: unknown) => e,
      );
      expectOutcome(probe, outcomeOf(error), 'pg binary');
      expectNoLeak(tap.take(), `pg binary: ${probe.sql}`);
    }
  });

  it('postgres.js (prepared statements, described once and executed later)', async () => {
    const sql = postgres(tap.url(), { max: 1, onnotice: () => {} });
    try {
      for (const probe of extendable) {
        // Twice: the second run executes the prepared statement without describing it again.
        for (let run = 0; run < 2; run++) {
          const error = await sql.unsafe(probe.sql, [], { prepare: true }).then(
            () => null,
            (e: unknown) => e,
          );
          expectOutcome(probe, outcomeOf(error), 'postgres.js');
          expectNoLeak(tap.take(), `postgres.js: ${probe.sql}`);
        }
      }
    } finally {
      await sql.end();
    }
  });

  it('psql: every probe, including COPY, cursors and several statements per message', async () => {
    for (const probe of LEAK_PROBES) {
      const result = await psql(cluster(), tap.url(), ['-c', probe.sql], { timeoutMs: 20_000 });
      const failed = result.code !== 0;
      if (probe.outcome === 'rows') expect(failed, `psql: ${probe.sql}\n${result.stderr}`).toBe(false);
      else expect(failed, `psql: ${probe.sql}`).toBe(true);
      if (probe.outcome.startsWith('masking-')) expect(result.stderr).toContain(`rule "${probe.outcome}"`);
      expectNoLeak(tap.take(), `psql: ${probe.sql}`);
    }
  });

  it('a portal read a few rows at a time (pg-cursor: Execute with a row limit, PortalSuspended)', async () => {
    const c = await pool.pg(tap.url());
    const cursor = c.query(new Cursor('SELECT id, ssn, upper(email) AS e FROM customers ORDER BY id'));
    const first = await cursor.read(5);
    const rest = await cursor.read(100);
    await cursor.close();
    expect(first.length + rest.length).toBe(people.length);
    expect(first[0]).toMatchObject({ id: 1, e: '[redacted]' });
    expect(first[0]?.ssn).toMatch(/^\*\*\*-\*\*-\d{4}$/);
    expectNoLeak(tap.take(), 'pg-cursor');
  });

  it('a unique violation does not echo the existing value', async () => {
    const c = await pool.pg(tap.url());
    const email = people[0]?.email ?? '';
    tap.take();
    const error = (await c
      .query(UNIQUE_VIOLATION_TEMPLATE.replace('%EMAIL%', email))
      .catch((e) => e)) as pg.DatabaseError;
    expect(error.code).toBe('23505');
    expect(error.detail).toBe('Key (email)=([redacted]) already exists.');
    expectNoLeak(tap.take(), 'unique violation');
  });

  it('a second PREPARE of a name fails upstream and the first statement keeps its masks', async () => {
    const c = await pool.pg(tap.url());
    await c.query({ name: 'same', text: 'SELECT upper(ssn) AS u FROM customers' });
    // node-postgres sends Parse only once per name; a raw second Parse of the same name must fail upstream.
    const dup = await c.query('PREPARE same AS SELECT 1').catch((e: pg.DatabaseError) => e);
    expect((dup as pg.DatabaseError).code).toBe('42P05');
    const again = await c.query({ name: 'same', text: 'SELECT upper(ssn) AS u FROM customers' });
    expect(again.rows.every((r) => r.u === '[redacted]')).toBe(true);
    expectNoLeak(tap.take(), 'prepared twice');
  });
});

describe('leakage corpus with the detectors off: column rules and the analysis alone', () => {
  const probes = LEAK_PROBES.filter((p) => !p.detectorsOnly);
  // No rule names the profile document's contents: without detectors they pass, by design.
  const ruled = forbidden.filter((n) => !n.label.startsWith('profile'));

  it('node-postgres, simple protocol', async () => {
    for (const probe of probes) {
      const c = await pool.pg(rulesOnlyTap.url());
      const error = await c.query(probe.sql).then(
        () => null,
        (e: unknown) => e,
      );
      await c.end();
      expectOutcome(probe, outcomeOf(error), 'pg simple, rules only');
      expectNoLeak(rulesOnlyTap.take(), `pg simple, rules only: ${probe.sql}`, ruled);
    }
  });

  it('node-postgres, extended protocol with binary results', async () => {
    const c = await pool.pg(rulesOnlyTap.url());
    for (const probe of probes.filter((p) => !p.simpleOnly)) {
      const error = await c.query({ text: probe.sql, queryMode: 'extended', binary: true }).then(
        () => null,
        (e: unknown) => e,
      );
      expectOutcome(probe, outcomeOf(error), 'pg binary, rules only');
      expectNoLeak(rulesOnlyTap.take(), `pg binary, rules only: ${probe.sql}`, ruled);
    }
  });
});

describe('masked results stay usable', () => {
  it('row counts, unmasked columns and column types are what a direct connection returns', async () => {
    const sql =
      'SELECT id, full_name, ssn, email, city, created_at, customer_key, loyalty_no, profile FROM customers ORDER BY id';
    const direct = await pool.pg(cluster().url('superuser'));
    const masked = await pool.pg(proxy.url());
    for (const binary of [false, true]) {
      const a = await direct.query({ text: sql, binary });
      const b = await masked.query({ text: sql, binary });
      expect(b.rowCount).toBe(a.rowCount);
      expect(b.fields.map((f) => [f.name, f.dataTypeID, f.format])).toEqual(
        a.fields.map((f) => [f.name, f.dataTypeID, f.format]),
      );
      const keep = (r: Record<string, unknown>) => [r.id, r.full_name, r.city, String(r.created_at)];
      expect(b.rows.map(keep)).toEqual(a.rows.map(keep));
      for (const row of b.rows) {
        expect(row.ssn).toMatch(/^\*\*\*-\*\*-\d{4}$/);
        expect(row.email).toMatch(/^h:[0-9a-f]{16}$/);
        expect(typeof row.loyalty_no === 'string' || typeof row.loyalty_no === 'bigint').toBe(true);
        expect(row.customer_key).toMatch(
          /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
        );
      }
    }
  });

  it('COPY … TO rows carry the same masked values as SELECT, in text and CSV, header kept', async () => {
    const c = await pool.pg(proxy.url());
    const selected = await c.query(
      'SELECT id, ssn, email, loyalty_no::text AS loyalty, notes FROM customers ORDER BY id',
    );
    const csv = await psql(cluster(), proxy.url(), [
      '-c',
      'COPY (SELECT id, ssn, email, loyalty_no, notes FROM customers ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)',
    ]);
    expect(csv.code, csv.stderr).toBe(0);
    const [header, ...lines] = csv.stdout.trim().split('\n');
    expect(header).toBe('id,ssn,email,loyalty_no,notes');
    const text = await psql(cluster(), proxy.url(), [
      '-c',
      'COPY customers (id, ssn, email, loyalty_no, notes) TO STDOUT',
    ]);
    const byId = new Map(
      text.stdout
        .trim()
        .split('\n')
        .map((l) => [l.split('\t')[0], l.split('\t')] as const),
    );
    selected.rows.forEach((row, i) => {
      expect(lines[i]?.split(','), `csv row ${row.id}`).toEqual([
        String(row.id),
        row.ssn,
        row.email,
        // loyalty_no::text is computed, so SELECT redacts it whole (NULL); COPY of the column hashes it as an int8.
        expect.stringMatching(/^\d+$/),
        '[redacted]',
      ]);
      expect(byId.get(String(row.id))?.slice(0, 3)).toEqual([String(row.id), row.ssn, row.email]);
    });
  });

  it('hashed values join across tables and are stable across sessions and protocols', async () => {
    const c1 = await pool.pg(proxy.url());
    const c2 = await pool.pg(proxy.url());
    const customers = await c1.query('SELECT id, email FROM customers ORDER BY id');
    const orders = await c2.query({
      text: 'SELECT customer_id, email FROM orders ORDER BY customer_id',
      binary: true,
    });
    expect(orders.rows.map((r) => r.email)).toEqual(customers.rows.map((r) => r.email));
    expect(new Set(customers.rows.map((r) => r.email)).size).toBe(people.length);
  });

  it('detectors mask what rules do not name, in place, and keep JSON valid', async () => {
    const c = await pool.pg(proxy.url());
    const { rows } = await c.query('SELECT profile FROM customers WHERE id = 1');
    expect(rows[0]?.profile).toEqual({ contact: '[redacted]', card: '[redacted]' });
    const prose = await c.query("SELECT 'reach me at jane.doe@example.net, card 4111 1111 1111 1111' AS t");
    expect(prose.rows[0]?.t).toBe('reach me at [redacted], card [redacted]');
  });

  it('a table created after the session started is masked by its column names', async () => {
    const c = await pool.pg(proxy.url());
    await cluster().psql(
      "CREATE TABLE late (id int, email text); INSERT INTO late VALUES (1, 'late.secret@example.com'); GRANT ALL ON late TO PUBLIC",
    );
    // A DDL statement through the proxy refreshes the masked columns before the next statement.
    await c.query('CREATE TABLE IF NOT EXISTS unrelated (id int)');
    const { rows } = await c.query('SELECT email FROM late');
    expect(rows[0]?.email).toMatch(/^h:[0-9a-f]{16}$/);
  });

  it('counts masked rows and catalog reads in the metrics', async () => {
    const c = await pool.pg(proxy.url());
    const before = proxy.metrics.maskedRows.count;
    await c.query('SELECT ssn FROM customers');
    expect(proxy.metrics.maskedRows.count - before).toBe(people.length);
    expect(
      await counterValue(proxy.metrics.maskingCatalogRefreshes, { outcome: 'ok' }),
    ).toBeGreaterThanOrEqual(1);
    const text = await proxy.metrics.registry.metrics();
    expect(text).toMatch(/^pgwarden_masked_relations \d+$/m);
    expect(text).toMatch(/^pgwarden_masked_rows_total \d+$/m);
  });

  it('a table another client creates is masked at once: a statement naming an unknown relation waits for a fresh catalog read', async () => {
    const c = await pool.pg(proxy.url());
    await c.query('SELECT 1');
    await cluster().psql(
      "CREATE TABLE later_contacts (id int, email text); INSERT INTO later_contacts VALUES (1, 'later.secret@example.com'); GRANT ALL ON later_contacts TO PUBLIC",
    );
    const { rows } = await c.query({ text: 'SELECT email FROM later_contacts', binary: true });
    expect(rows[0]?.email).toMatch(/^h:[0-9a-f]{16}$/);
  });

  it('refuses a client encoding other than UTF8 while masking', async () => {
    const c = await pool.pg(proxy.url());
    const err = (await c.query("SET client_encoding = 'LATIN1'").catch((e) => e)) as pg.DatabaseError;
    expect(err.code).toBe('42501');
    expect(err.message).toContain('client_encoding UTF8');
  });
});
