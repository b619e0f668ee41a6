import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runPolicyCommand } from '../../src/cli/policy-command.js';
import { ConfigError } from '../../src/config/config-error.js';
import { loadPolicyFile } from '../../src/config/policy-file.js';
import { compilePolicy } from '../../src/decide/compile.js';

const READ_ONLY = new URL('../../../examples/policies/read-only.yaml', import.meta.url).pathname;

async function run(...argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      out += String(chunk);
      done();
    },
  });
  const code = await runPolicyCommand(argv, stream);
  return { code, out };
}

describe('pgwarden policy test', () => {
  it('prints a table of decisions and exits 0 whatever the outcomes', async () => {
    const { code, out } = await run(
      'test',
      '--policy',
      READ_ONLY,
      '-c',
      'SELECT count(*) FROM orders; DELETE FROM orders',
      '-c',
      'SET ROLE admin',
    );
    const hash = compilePolicy(loadPolicyFile(READ_ONLY)).hash.slice(0, 12);
    expect(code).toBe(0);
    expect(out).toBe(
      [
        `policy analytics-agent (access read-only, sha256 ${hash})`,
        '',
        '#    OUTCOME  RULE              KIND   READS   WRITES  FUNCTIONS  STATEMENT',
        '1.1  allow    reads             read   orders  -       count      SELECT count(*) FROM orders',
        '1.2  deny     read-only-access  write  -       orders  -          DELETE FROM orders',
        '     the policy grants read-only access, so a write statement is not allowed; ask the policy owner for read-write access if the task needs it',
        '     message 1 (all 2 statements): deny by rule "read-only-access"',
        '2.1  deny     guarded-setting   dcl    -       -       -          SET ROLE admin',
        '     changing role would change who the session acts as; the role is fixed by the pgwarden grant, so ask for a policy that grants what you need',
        '',
      ].join('\n'),
    );
  });

  it('prints JSON lines with --json: statements, then their message', async () => {
    const { code, out } = await run(
      'test',
      '--policy',
      READ_ONLY,
      '--json',
      '-c',
      'SELECT 1; SELECT * FROM api_keys',
    );
    expect(code).toBe(0);
    const lines = out
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      {
        type: 'statement',
        input: 1,
        statement: 1,
        sql: 'SELECT 1',
        outcome: 'allow',
        rule: 'reads',
        message: 'the policy allows this read statement',
        kind: 'read',
        tablesRead: [],
        tablesWritten: [],
        functions: [],
      },
      expect.objectContaining({
        type: 'statement',
        statement: 2,
        outcome: 'deny',
        rule: 'no-credentials',
        tablesRead: ['api_keys'],
      }),
      expect.objectContaining({
        type: 'message',
        input: 1,
        statements: 2,
        outcome: 'deny',
        rule: 'no-credentials',
      }),
    ]);
  });

  it('reports SQL that does not parse as denied and exits 1', async () => {
    const { code, out } = await run(
      'test',
      '--policy',
      READ_ONLY,
      '--json',
      '-c',
      'SELECT 1',
      '-c',
      'SELEC 1',
    );
    expect(code).toBe(1);
    expect(JSON.parse(out.trimEnd().split('\n').at(-1) ?? '')).toEqual({
      type: 'message',
      input: 2,
      statements: 0,
      outcome: 'deny',
      rule: 'parse-error',
      message: 'syntax error at or near "SELEC" (at character 1)',
      kind: null,
      sql: 'SELEC 1',
    });
  });

  it('reads SQL files in the order given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgwarden-policy-test-'));
    const file = join(dir, 'corpus.sql');
    writeFileSync(file, 'SELECT 1;\nBEGIN;\nCOMMIT;\n');
    const { code, out } = await run('test', '--policy', READ_ONLY, '--json', '-c', 'SELECT 2', '-f', file);
    expect(code).toBe(0);
    const lines = out
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; input: number; sql?: string });
    expect(lines.filter((l) => l.type === 'statement').map((l) => [l.input, l.sql])).toEqual([
      [1, 'SELECT 2'],
      [2, 'SELECT 1'],
      [2, 'BEGIN'],
      [2, 'COMMIT'],
    ]);
  });

  it('refuses an invalid policy, an unreadable input and missing options with a ConfigError (exit 2)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgwarden-policy-test-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      'apiVersion: pgwarden.io/v1alpha1\nkind: AgentAccessPolicy\nmetadata: {name: p}\nspec: {rules: [], access: rw}\n',
    );
    await expect(run('test', '--policy', bad, '-c', 'SELECT 1')).rejects.toThrow(
      `${bad} is not a valid AgentAccessPolicy:\n${bad}:4: spec.access: unknown access "rw"; expected read-only or read-write`,
    );
    const unsatisfiable = join(dir, 'unsatisfiable.yaml');
    writeFileSync(
      unsatisfiable,
      'apiVersion: pgwarden.io/v1alpha1\nkind: AgentAccessPolicy\nmetadata: {name: p}\nspec: {rules: [], approval: {approvers: {users: [dba]}, requiredApprovals: 2}}\n',
    );
    await expect(run('test', '--policy', unsatisfiable, '-c', 'SELECT 1')).rejects.toThrow(
      /spec\.approval\.requiredApprovals: is 2, but approvers\.users names only 1/,
    );
    await expect(run('test', '--policy', READ_ONLY, '-f', join(dir, 'none.sql'))).rejects.toThrow(
      `policy test: cannot read ${join(dir, 'none.sql')}: ENOENT`,
    );
    await expect(run('test', '--policy', READ_ONLY)).rejects.toThrow(ConfigError);
    await expect(run('test', '-c', 'SELECT 1')).rejects.toThrow('policy test: --policy FILE is required');
    await expect(run('check')).rejects.toThrow('unknown policy command "check"');
  });

  it('prints help', async () => {
    expect(await run('--help')).toMatchObject({
      code: 0,
      out: expect.stringContaining('Usage: pgwarden policy test'),
    });
    expect((await run()).code).toBe(2);
  });
});
