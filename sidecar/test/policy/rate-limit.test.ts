import { usePostgres } from '@pgwarden/e2e';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { ClientPool } from '../integration/helpers.js';
import type { TestProxy } from '../support/proxy.js';
import { startPolicyProxy } from './support.js';

const cluster = usePostgres();
let proxy: TestProxy;
const pool = new ClientPool();

beforeAll(async () => {
  proxy = await startPolicyProxy(cluster(), 'rate-limited.yaml');
});
afterEach(() => pool.endAll());
afterAll(() => proxy.drain(1000));

it('past limits.queriesPerMinute statements fail with 53400 and a retry hint, across sessions', async () => {
  const first = await pool.pg(proxy.url());
  const second = await pool.pg(proxy.url());
  await first.query('SELECT 1');
  await second.query('SELECT 2');
  await first.query({ text: 'SELECT $1::int AS n', values: [3] });
  const err = (await second.query('SELECT 4').catch((e) => e)) as pg.DatabaseError;
  expect(err.code).toBe('53400');
  expect(err.message).toBe(
    'pgwarden: query rate limit of 3 per minute reached (policy limits.queriesPerMinute)',
  );
  expect(err.hint).toMatch(/^Retry in \d+ s/);
  // Execute messages (extended protocol) spend the same budget, and the session is still connected.
  await expect(first.query({ text: 'SELECT $1::int', values: [5] })).rejects.toMatchObject({ code: '53400' });
});
