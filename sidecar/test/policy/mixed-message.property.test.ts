import { usePostgres } from '@pgwarden/e2e';
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ClientPool, pgClient } from '../integration/helpers.js';
import type { TestProxy } from '../support/proxy.js';
import { schemaSql, startPolicyProxy } from './support.js';
import { sendMessage, upstreamState } from './wire-outcome.js';

/**
 * Property: under the read-write fixture, a simple Query mixing statements the
 * policy allows with statements it refuses is never forwarded, not even the
 * allowed part before a COMMIT; one with only allowed statements runs whole.
 */

interface Piece {
  /** The statement, given its position in the message (inserts use it as their id). */
  sql(position: number): string;
  /** How the policy refuses it; absent when it is allowed. */
  refusal?: { outcome: 'deny' | 'approve'; rule: string };
  /** An allowed INSERT of one scratch row, with the position as id: its effect shows whether it ran. */
  inserts?: true;
}

const insert: Piece = { sql: (n) => `INSERT INTO scratch VALUES (${n}, 'p')`, inserts: true };
// Ends the implicit transaction of a multi-statement message: what came before would be committed.
const commit: Piece = { sql: () => 'COMMIT' };

const ALLOWED: readonly Piece[] = [
  insert,
  { sql: () => 'SELECT count(*) FROM accounts' },
  { sql: (n) => `SELECT note FROM scratch WHERE id = ${n}` },
  commit,
  { sql: () => "SET application_name = 'mixed'" },
];

const deny = (rule: string) => ({ outcome: 'deny', rule }) as const;
const approve = { outcome: 'approve', rule: 'writes-need-approval' } as const;
const dropAccounts: Piece = { sql: () => 'DROP TABLE accounts', refusal: deny('no-ddl') };

/** Refused statements, several of which would visibly change scratch or accounts if they ran. */
const REFUSED: readonly Piece[] = [
  dropAccounts,
  { sql: () => 'TRUNCATE scratch', refusal: deny('no-ddl') },
  { sql: () => 'DELETE FROM accounts', refusal: approve },
  { sql: () => 'UPDATE accounts SET balance = 0', refusal: approve },
  { sql: () => 'INSERT INTO scratch SELECT id, owner FROM accounts', refusal: approve },
  { sql: () => 'SET ROLE scram_user', refusal: deny('guarded-setting') },
  { sql: () => "SELECT pg_read_file('/etc/hostname')", refusal: deny('function-deny-list') },
  {
    sql: () => "COPY scratch FROM PROGRAM 'echo 999,x' WITH (FORMAT csv)",
    refusal: deny('copy-server-file'),
  },
];

const pieceArb = fc.oneof(fc.constantFrom(...ALLOWED), fc.constantFrom(...REFUSED));
const messageArb = fc.array(pieceArb, { minLength: 1, maxLength: 6 });

const cluster = usePostgres();
const pool = new ClientPool();
let proxy: TestProxy;
/** Straight to the server, as superuser: to clean scratch and read what the proxy must not have changed. */
let direct: pg.Client;

beforeAll(async () => {
  await cluster().psql(schemaSql);
  proxy = await startPolicyProxy(cluster(), 'read-write.yaml');
  direct = await pgClient(cluster().url());
});
afterAll(async () => {
  await pool.endAll();
  await direct.end();
  await proxy.drain(1000);
});

async function scratchIds(): Promise<number[]> {
  const { rows } = await direct.query<{ id: number }>('SELECT id FROM scratch ORDER BY id');
  return rows.map((r) => r.id);
}

it('a message with any refused statement runs none of it; one without runs all of it', async () => {
  await fc.assert(
    fc.asyncProperty(messageArb, async (pieces) => {
      await direct.query('DELETE FROM scratch');
      const before = await upstreamState(direct);
      const sql = pieces.map((piece, i) => piece.sql(i)).join('; ');
      // A fresh session per message, so a statement that did slip through cannot outlive its run.
      const client = await pool.pg(proxy.url());
      const result = await sendMessage(client, sql);
      await client.end();

      const refusals = pieces.flatMap((piece) => (piece.refusal ? [piece.refusal] : []));
      if (refusals.length === 0) {
        expect(result, sql).toEqual({ outcome: 'allow', rule: null, code: null });
        const inserted = pieces.flatMap((piece, i) => (piece.inserts ? [i] : []));
        expect(await scratchIds(), sql).toEqual(inserted);
        return;
      }
      // The first denied statement decides the message; approval only when nothing is denied.
      const decisive = refusals.find((r) => r.outcome === 'deny') ?? refusals[0];
      expect(result, sql).toEqual({ ...decisive, code: '42501' });
      expect(await scratchIds(), sql).toEqual([]);
      expect(await upstreamState(direct), sql).toBe(before);
    }),
    {
      numRuns: 100,
      // Always include the two shapes the issue names: stacking after COMMIT, and allowed-only.
      examples: [[[insert, commit, dropAccounts]], [[insert, commit, insert]]],
    },
  );
});
