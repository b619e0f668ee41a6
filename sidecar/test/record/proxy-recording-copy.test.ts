import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RecordingEvent } from '@pgwarden/crds';
import { usePostgres } from '@pgwarden/e2e';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { psql } from '../integration/helpers.js';
import { startTestProxy, type TestProxy } from '../support/proxy.js';
import {
  customers,
  HASH_KEY_ENV,
  schemaSql,
  sealedRecording,
  statementEvents,
  writeRecordingPolicy,
} from './proxy-support.js';
import { replay } from './support.js';

/**
 * COPY … TO STDOUT through the live proxy with psql: the lines the client
 * received (after masking) are recorded as rows of one column, capped like
 * result rows, and no seeded value reaches the recording.
 */

type Rows = Extract<RecordingEvent, { type: 'rows' }>;

const cluster = usePostgres();
let sinkDir: string;
let proxy: TestProxy;

beforeAll(async () => {
  await cluster().psql(schemaSql);
  process.env[HASH_KEY_ENV] = 'recording-test-hash-key-0123456789';
  sinkDir = await mkdtemp(join(tmpdir(), 'pgwarden-recordings-copy-'));
  proxy = await startTestProxy(cluster(), {
    policy: await writeRecordingPolicy({ sink: { type: 'dir', path: sinkDir }, rowCapPerStatement: 4 }),
    spoolDir: await mkdtemp(join(tmpdir(), 'pgwarden-spool-copy-')),
  });
});
afterAll(async () => {
  await proxy?.drain(2000);
});

const statements = {
  text: 'COPY customers TO STDOUT',
  csv: 'COPY customers (id, email, ssn) TO STDOUT WITH (FORMAT csv, HEADER)',
  small: 'COPY (SELECT id, amount FROM orders WHERE id <= 2 ORDER BY id) TO STDOUT WITH (FORMAT csv)',
};

describe('COPY … TO STDOUT in a recording', () => {
  it('records the masked lines psql received (text and CSV), capped and marked truncated, and nothing seeded', async () => {
    const outputs: Record<string, string[]> = {};
    for (const [name, sql] of Object.entries(statements)) {
      const result = await psql(cluster(), proxy.url({ application_name: `rec-copy-${name}` }), ['-c', sql]);
      outputs[name] = result.stdout.split('\n').filter((line) => line !== '');
    }
    expect(outputs.text).toHaveLength(5);
    expect(outputs.text?.[0]).toMatch(/^1\tCustomer 1\th:[0-9a-f]{16}\t\[redacted\]$/);
    expect(outputs.csv?.[0]).toBe('id,email,ssn');
    expect(outputs.csv).toHaveLength(6);

    const needles = customers.flatMap((c) => [
      c.ssn,
      c.email,
      c.email.toUpperCase(),
      c.ssn.replaceAll('-', ''),
    ]);
    const recorded = async (name: keyof typeof statements) => {
      const r = await sealedRecording(sinkDir, `rec-copy-${name}`);
      const verified = await replay([sinkDir, '--session', r.id, '--verify']);
      expect(verified.code, verified.out + verified.err).toBe(0);
      expect(needles.filter((n) => r.text.includes(Buffer.from(n)))).toEqual([]);
      return statementEvents(r, statements[name]);
    };

    const text = await recorded('text');
    expect(text.map((e) => e.type)).toEqual(['statement', 'decision', 'rows', 'result']);
    const textRows = text[2] as Rows;
    expect(textRows.columns).toEqual([{ name: 'copy', typeOid: 25, masked: true }]);
    // The first four lines exactly as psql printed them; the fifth counted, not kept.
    expect(textRows.rows).toEqual(outputs.text?.slice(0, 4).map((line) => [line]));
    expect(textRows).toMatchObject({ truncated: true, omittedRows: 1 });
    expect(text[3]).toMatchObject({ commandTag: 'COPY 5', rows: 5 });

    const csv = await recorded('csv');
    const csvRows = csv[2] as Rows;
    expect(csvRows.columns).toEqual([{ name: 'copy', typeOid: 25, masked: true }]);
    // The header line is a line the client received: recorded first, counted against the cap.
    expect(csvRows.rows).toEqual(outputs.csv?.slice(0, 4).map((line) => [line]));
    expect(csvRows.rows[1]?.[0]).toMatch(/^1,h:[0-9a-f]{16},\[redacted\]$/);
    expect(csvRows).toMatchObject({ truncated: true, omittedRows: 2 });
    expect(csv[3]).toMatchObject({ commandTag: 'COPY 5', rows: 5 });

    const small = await recorded('small');
    expect(small[2]).toEqual(
      expect.objectContaining({
        columns: [{ name: 'copy', typeOid: 25, masked: false }],
        rows: [['1,12.50'], ['2,25.00']],
        truncated: false,
        omittedRows: 0,
      }),
    );
    // Two CopyData messages of 5 + 8 bytes ("1,12.50\n", "2,25.00\n").
    expect(small[3]).toMatchObject({ commandTag: 'COPY 2', rows: 2, bytes: 26 });
  });
});
