import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import type { RecordingEvent } from '@pgwarden/crds';
import type { PostgresCluster } from '@pgwarden/e2e';
import type pg from 'pg';
import { afterAll } from 'vitest';
import { decodeChunk } from '../../src/record/chunk.js';
import type { LogCapture } from '../integration/helpers.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';

/** Seeded customers: the SSNs and emails must never appear in a recording (they are masked). */
export const customers = Array.from({ length: 5 }, (_, i) => {
  const n = i + 1;
  return {
    id: n,
    name: `Customer ${n}`,
    email: `customer.${n}.private@example.com`,
    ssn: `${220 + n}-${30 + n}-${4100 + n}`,
  };
});

export const schemaSql = `
  CREATE TABLE customers (id int PRIMARY KEY, full_name text NOT NULL, email text NOT NULL UNIQUE, ssn text NOT NULL);
  ${customers.map((c) => `INSERT INTO customers VALUES (${c.id}, '${c.name}', '${c.email}', '${c.ssn}');`).join('\n')}
  CREATE TABLE orders (id int PRIMARY KEY, customer_id int, amount numeric(10,2), placed date, paid bool, ref uuid);
  INSERT INTO orders SELECT i, i, i * 12.5, date '2026-01-01' + i, i % 2 = 0,
    ('00000000-0000-4000-8000-00000000000' || i)::uuid FROM generate_series(1, 5) i;
  CREATE TABLE notes (id int, body text);
  GRANT ALL ON ALL TABLES IN SCHEMA public TO PUBLIC;
`;

export const HASH_KEY_ENV = 'PGWARDEN_TEST_RECORDING_HASH_KEY';

/** A read-write policy that denies writes to customers, masks ssn and email, and records into `recording`. */
export async function writeRecordingPolicy(recording: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-recording-policy-'));
  const file = join(dir, 'policy.yaml');
  const policy = {
    apiVersion: 'pgwarden.io/v1alpha1',
    kind: 'AgentAccessPolicy',
    metadata: { name: 'recorded-agent' },
    spec: {
      access: 'read-write',
      rules: [
        {
          name: 'no-customer-writes',
          match: { kinds: ['write'], tables: ['public.customers'] },
          action: 'deny',
          message: 'customers are changed by the billing service only',
        },
        {
          name: 'everything-else',
          match: { kinds: ['read', 'write', 'transaction', 'session'] },
          action: 'allow',
        },
      ],
      masking: {
        columns: [
          { column: 'public.customers.ssn', strategy: 'redact' },
          { column: 'public.customers.email', strategy: 'hash' },
        ],
        detectors: ['ssn', 'email'],
        hashKey: { env: HASH_KEY_ENV },
      },
      recording: { flushInterval: '50ms', ...recording },
    },
  };
  await writeFile(file, JSON.stringify(policy, null, 2));
  return file;
}

export interface StoredRecording {
  id: string;
  events: RecordingEvent[];
  sealed: boolean;
  /** Every chunk decompressed, concatenated: what a leak check searches. */
  text: Buffer;
}

/** Every recording in a dir sink, decoded. */
export async function readRecordings(sinkDir: string): Promise<StoredRecording[]> {
  const out: StoredRecording[] = [];
  for (const id of (await readdir(sinkDir).catch(() => [])).sort()) {
    const names = (await readdir(join(sinkDir, id))).filter((n) => n.endsWith('.jsonl.gz')).sort();
    const events: RecordingEvent[] = [];
    const texts: Buffer[] = [];
    let sealed = false;
    for (const name of names) {
      const bytes = await readFile(join(sinkDir, id, name));
      texts.push(gunzipSync(bytes));
      const chunk = await decodeChunk(bytes);
      events.push(...chunk.events);
      sealed ||= chunk.header.final;
    }
    out.push({ id, events, sealed, text: Buffer.concat(texts) });
  }
  return out;
}

/** Waits until the sink holds a sealed recording whose session-start has this application_name. */
export async function sealedRecording(
  sinkDir: string,
  applicationName: string,
  timeoutMs = 15_000,
): Promise<StoredRecording> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await readRecordings(sinkDir)).find((r) => {
      const start = r.events[0];
      return start?.type === 'session-start' && start.applicationName === applicationName;
    });
    if (found?.sealed) return found;
    if (Date.now() > deadline) {
      throw new Error(`no sealed recording for ${applicationName} in ${sinkDir} after ${timeoutMs} ms`);
    }
    await sleep(50);
  }
}

export function eventsOf<T extends RecordingEvent['type']>(
  r: StoredRecording,
  type: T,
): Extract<RecordingEvent, { type: T }>[] {
  return r.events.filter((e): e is Extract<RecordingEvent, { type: T }> => e.type === type);
}

/** The events of the statement whose text is `text` (the n-th such statement). */
export function statementEvents(r: StoredRecording, text: string, n = 0): RecordingEvent[] {
  const statement = eventsOf(r, 'statement').filter((e) => e.text === text)[n];
  if (!statement) {
    const texts = eventsOf(r, 'statement').map((e) => e.text);
    throw new Error(`statement ${JSON.stringify(text)} not recorded; recorded: ${JSON.stringify(texts)}`);
  }
  return r.events.filter((e) => 'statementId' in e && e.statementId === statement.statementId);
}

/** The SQLSTATE a query fails with, or null when it succeeds. */
export async function failure(
  client: pg.Client,
  text: string,
  values?: unknown[],
): Promise<pg.DatabaseError | null> {
  try {
    await client.query(text, values);
    return null;
  } catch (err) {
    return err as pg.DatabaseError;
  }
}

export const tempDir = (prefix: string) => mkdtemp(join(tmpdir(), `pgwarden-${prefix}-`));

/**
 * Starts proxies in front of `cluster` with the recording policy, each with its
 * own spool (and, given `logs`, info logs captured there); drained after the file.
 */
export function recordingProxies(
  cluster: () => PostgresCluster,
): (recording: Record<string, unknown>, logs?: LogCapture) => Promise<TestProxy> {
  const proxies: TestProxy[] = [];
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.drain(1000)));
  });
  return async (recording, logs) => {
    const proxy = await startTestProxy(cluster(), {
      policy: await writeRecordingPolicy(recording),
      spoolDir: await tempDir('spool'),
      ...(logs ? { logLevel: 'info' as const, logDestination: logs } : {}),
    });
    proxies.push(proxy);
    return proxy;
  };
}
