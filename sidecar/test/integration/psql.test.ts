import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, usePostgres } from '@pgwarden/e2e';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useProxy } from '../support/proxy.js';
import { counterValue, libpqEnv, psql, waitFor } from './helpers.js';

// psql through the proxy must behave exactly as psql against the server: same
// stdout, same stderr (notices, errors with their caret), same exit status.

const cluster = usePostgres();
const proxy = useProxy(cluster);

let workDir = '';
beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'pgwarden-psql-'));
  await cluster().psql(`
    create table items (id int primary key, label text, price numeric(10,2), tags text[], note text, made date);
    grant all on items to public;
  `);
});
afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const direct = () => cluster().url();
const proxied = () => proxy().url();

/** Runs the same psql invocation directly and through the proxy. */
async function both(args: string[], input?: string) {
  const [d, p] = await Promise.all([
    psql(cluster(), direct(), args, { input, cwd: workDir }),
    psql(cluster(), proxied(), args, { input, cwd: workDir }),
  ]);
  return { d, p };
}

describe('psql through the proxy', () => {
  it('runs queries with output identical to a direct connection', async () => {
    const sql = [
      "select 1 as one, 'two' as two, null::int as nothing, 3.5::numeric as three_and_a_half",
      "select x, repeat('ab', x) as r, x % 2 = 0 as even from generate_series(1, 20) x",
      "select E'tab\\there' as t, 'unicodé ✓' as u, '{1,2,3}'::int[] as a, '{\"k\": [1, null]}'::jsonb as j",
      "select current_user, current_database(), current_setting('server_version_num')",
    ];
    for (const q of sql) {
      const { d, p } = await both(['-c', q]);
      expect(p.stderr).toBe('');
      expect(p.code).toBe(0);
      expect(p.stdout).toBe(d.stdout);
      expect(p.stdout).toMatch(/\(\d+ rows?\)/);
    }
  });

  it('sends a multi-statement string as one simple Query and shows every result', async () => {
    const q =
      'select 1 as a; select 2 as b; create temp table t (x int); insert into t values (1), (2), (3); select sum(x) as total from t';
    const { d, p } = await both(['-c', q]);
    expect(p.code).toBe(0);
    expect(p.stdout).toBe(d.stdout);
    // psql ≥ 15 shows the result of every statement in the string.
    expect(p.stdout).toMatch(/ a \n---\n 1\n/);
    expect(p.stdout).toMatch(/ b \n---\n 2\n/);
    expect(p.stdout).toContain('INSERT 0 3');
    expect(p.stdout).toMatch(/ total \n-------\n {5}6\n/);
  });

  it('a multi-statement string fails as a whole: the implicit transaction rolls back', async () => {
    const q = 'insert into items (id, label) values (9001, $$ghost$$); select 1/0; select 42';
    const { d, p } = await both(['-v', 'VERBOSITY=verbose', '-c', q]);
    expect(p.code).toBe(1);
    expect(p.stderr).toBe(d.stderr);
    expect(p.stderr).toContain('ERROR:  22012: division by zero');
    expect(await cluster().psql('select count(*) from items where id = 9001')).toBe('0');
  });

  it('\\copy in and out round-trips a file byte for byte, identical to direct', async () => {
    const rows: string[] = [];
    for (let i = 1; i <= 5000; i++) {
      const label = i % 7 === 0 ? '\\N' : `item ${i} \\t tab \\\\ backslash ✓ ${'x'.repeat(i % 50)}`;
      const tags = i % 3 === 0 ? '{}' : `{a${i},"b c",NULL}`;
      const note = i % 11 === 0 ? '' : `line\\nbreak ${i}`;
      rows.push(
        `${i}\t${label}\t${(i * 1.25).toFixed(2)}\t${tags}\t${note}\t2024-01-${String((i % 28) + 1).padStart(2, '0')}`,
      );
    }
    const source = `${rows.join('\n')}\n`;
    await writeFile(join(workDir, 'in.tsv'), source);

    const load = await psql(cluster(), proxied(), ['-c', "\\copy items from 'in.tsv'"], { cwd: workDir });
    expect(load.stderr).toBe('');
    expect(load.stdout.trim()).toBe('COPY 5000');
    expect(await cluster().psql('select count(*), sum(id) from items')).toBe(`5000|${(5000 * 5001) / 2}`);

    const out = await both(['-c', '\\copy (select * from items order by id) to stdout']);
    expect(out.p.code).toBe(0);
    expect(out.p.stdout).toBe(out.d.stdout);
    expect(out.p.stdout).toBe(source);

    // To a file, in CSV with a header, through the proxy and directly.
    for (const [url, file] of [
      [proxied(), 'out-proxy.csv'],
      [direct(), 'out-direct.csv'],
    ] as const) {
      const r = await psql(
        cluster(),
        url,
        ['-c', `\\copy (select * from items order by id) to '${file}' with (format csv, header)`],
        {
          cwd: workDir,
        },
      );
      expect(r.stdout.trim()).toBe('COPY 5000');
    }
    const viaProxy = await readFile(join(workDir, 'out-proxy.csv'));
    const viaDirect = await readFile(join(workDir, 'out-direct.csv'));
    expect(viaProxy.length).toBeGreaterThan(400_000);
    expect(viaProxy.equals(viaDirect)).toBe(true);

    // And back in from the CSV: the table is unchanged.
    await cluster().psql('create table items_copy (like items); grant all on items_copy to public;');
    const reload = await psql(
      cluster(),
      proxied(),
      ['-c', "\\copy items_copy from 'out-proxy.csv' with (format csv, header)"],
      {
        cwd: workDir,
      },
    );
    expect(reload.stdout.trim()).toBe('COPY 5000');
    expect(
      await cluster().psql(
        'select count(*) from (select * from items except all select * from items_copy) d',
      ),
    ).toBe('0');
  });

  it('\\copy from a file with a bad row reports the same error as direct and loads nothing', async () => {
    await writeFile(join(workDir, 'bad.tsv'), '1\tok\n2\tok\nnot-a-number\tbad\n');
    await cluster().psql(
      'create table copy_target (id int, label text); grant all on copy_target to public;',
    );
    const { d, p } = await both(['-c', "\\copy copy_target from 'bad.tsv'"]);
    expect(p.code).toBe(1);
    expect(p.stderr).toBe(d.stderr);
    expect(p.stderr).toContain('invalid input syntax for type integer: "not-a-number"');
    expect(p.stderr).toContain('CONTEXT:  COPY copy_target, line 3');
    expect(await cluster().psql('select count(*) from copy_target')).toBe('0');
  });

  it('shows NOTICEs on stderr as a direct connection does', async () => {
    const q = "DO $$ begin raise notice 'hi'; raise warning 'careful: %', 42; end $$";
    const { d, p } = await both(['-c', q]);
    expect(p.code).toBe(0);
    expect(p.stderr).toBe('NOTICE:  hi\nWARNING:  careful: 42\n');
    expect(p.stderr).toBe(d.stderr);
    expect(p.stdout).toBe(d.stdout);
  });

  it('reports errors with their position and caret, identical to direct', async () => {
    const { d, p } = await both(['-c', 'select 1 +']);
    expect(p.code).toBe(1);
    expect(p.stderr).toBe(d.stderr);
    expect(p.stderr).toBe('ERROR:  syntax error at end of input\nLINE 1: select 1 +\n                  ^\n');

    const semicolon = await both(['-c', 'select 1 +;']);
    expect(semicolon.p.stderr).toBe(semicolon.d.stderr);
    expect(semicolon.p.stderr).toBe(
      'ERROR:  syntax error at or near ";"\nLINE 1: select 1 +;\n                  ^\n',
    );

    const verbose = await both(['-v', 'VERBOSITY=verbose', '-c', 'select nosuchcolumn from items']);
    expect(verbose.p.stderr).toBe(verbose.d.stderr);
    expect(verbose.p.stderr).toContain('ERROR:  42703: column "nosuchcolumn" does not exist');
    expect(verbose.p.stderr).toContain('LINE 1: select nosuchcolumn from items');
  });

  it('runs a script from stdin and stops at the first error as direct does', async () => {
    const script = [
      'create temp table s (x int);',
      'insert into s select generate_series(1, 3);',
      'select sum(x) from s;',
      'select * from missing_table;',
      "select 'not reached';",
    ].join('\n');
    const { d, p } = await both(['-f', '-'], script);
    expect(p.code).toBe(3);
    expect(p.code).toBe(d.code);
    expect(p.stdout).toBe(d.stdout);
    expect(p.stderr).toBe(d.stderr);
    expect(p.stderr).toContain('relation "missing_table" does not exist');
    expect(p.stdout).not.toContain('not reached');
  });

  it('cancels a running query with a CancelRequest through the proxy (57014, promptly)', async () => {
    const forwardedBefore = await counterValue(proxy().metrics.cancelRequests, { outcome: 'forwarded' });
    const started = Date.now();
    // timeout sends SIGINT after 2 s (and exits with psql's status); psql answers SIGINT by sending a CancelRequest on a new connection.
    const r = await run(
      'timeout',
      [
        '--preserve-status',
        '-s',
        'INT',
        '2',
        cluster().binPath('psql'),
        '-X',
        '-v',
        'VERBOSITY=verbose',
        '-d',
        proxied(),
        '-c',
        'select pg_sleep(30)',
      ],
      { env: libpqEnv(), timeoutMs: 20_000 },
    );
    const elapsed = Date.now() - started;
    expect(r.stderr).toContain('ERROR:  57014: canceling statement due to user request');
    expect(r.code).toBe(1);
    expect(elapsed).toBeLessThan(8000);
    // The proxy counts the cancel once its own cancel connection upstream has closed, which can be
    // a moment after psql has seen the error.
    const counts = async () => JSON.stringify((await proxy().metrics.cancelRequests.get()).values);
    await waitFor(`the forwarded cancel to be counted (before: ${forwardedBefore})`, async () => {
      return (
        (await counterValue(proxy().metrics.cancelRequests, { outcome: 'forwarded' })) >= forwardedBefore + 1
      );
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}; cancel counters: ${await counts()}`);
    });
    // The cancelled backend is idle again and nothing is left sleeping.
    expect(
      await cluster().psql(
        "select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'",
      ),
    ).toBe('0');
  });
});
