import { describe, expect, it } from 'vitest';
import type { StatementFacts } from '../../src/analyze/facts.js';
import { facts, setting } from './facts.js';
import { engine } from './policies.js';

/** Policies that would allow everything, so any refusal comes from a built-in rule. */
const allowAll = [{ name: 'everything', match: {}, action: 'allow' }];
const readOnly = engine({ access: 'read-only', rules: allowAll });
const readWrite = engine({ access: 'read-write', rules: allowAll });
const timed = engine({ access: 'read-write', rules: allowAll, limits: { statementTimeout: '30s' } });

function ruleOf(e: typeof readOnly, f: StatementFacts): string {
  return e.decide(f).rule;
}

describe('guarded-setting', () => {
  it.each([
    ['role', 'admin', 'set'],
    ['role', null, 'reset'],
    ['session_authorization', 'postgres', 'set'],
    ['role', 'admin', 'set_config'],
    ['default_transaction_read_only', 'off', 'set'],
    ['default_transaction_read_only', 'on', 'set'],
    ['default_transaction_read_only', null, 'reset'],
    ['transaction_read_only', 'off', 'set'],
    ['transaction_read_only', 'off', 'set_config'],
    ['*', null, 'reset'],
    ['*', 'x', 'set_config'],
  ] as const)('denies %s = %s via %s under every access mode', (name, value, via) => {
    for (const e of [readOnly, readWrite])
      expect(ruleOf(e, setting(name, value, via))).toBe('guarded-setting');
  });

  it('names the setting and what to do', () => {
    expect(readWrite.decide(setting('role', 'admin'))).toEqual({
      outcome: 'deny',
      rule: 'guarded-setting',
      message:
        'changing role would change who the session acts as; the role is fixed by the pgwarden grant, so ask for a policy that grants what you need',
      kind: 'dcl',
    });
    expect(readWrite.decide(setting('*', null, 'reset')).message).toBe(
      'RESET ALL and DISCARD ALL would also reset settings pgwarden guards; reset settings one at a time',
    );
  });

  it('leaves transaction options to read-only-access', () => {
    const beginReadWrite = facts('transaction', {
      settings: [{ name: 'transaction_read_only', value: 'off', local: true, via: 'transaction' }],
      transactionReadWrite: true,
    });
    expect(ruleOf(readWrite, beginReadWrite)).toBe('everything');
    expect(ruleOf(readOnly, beginReadWrite)).toBe('read-only-access');
  });

  it('denies search_path changes under read-only access only', () => {
    expect(ruleOf(readOnly, setting('search_path', 'secret, public'))).toBe('guarded-setting');
    expect(ruleOf(readOnly, setting('search_path', null, 'reset'))).toBe('guarded-setting');
    expect(ruleOf(readWrite, setting('search_path', 'app'))).toBe('everything');
  });

  it('checks statement_timeout against the limit', () => {
    const decide = (value: string | null, via: 'set' | 'reset' | 'set_config' = 'set') =>
      ruleOf(timed, setting('statement_timeout', value, via));
    for (const within of ['30s', '30000', '29999', '1s', '500ms', '0.5min', '1000000us']) {
      expect(decide(within)).toBe('everything');
    }
    for (const beyond of ['0', '0s', '0.4ms', '31s', '30001', '1min', '1h', '1d', 'forever', '-1']) {
      expect(decide(beyond)).toBe('guarded-setting');
    }
    // RESET and DEFAULT return to the startup value the proxy pins: the limit itself.
    expect(decide(null, 'reset')).toBe('everything');
    expect(decide(null, 'set')).toBe('everything');
    expect(decide(null, 'set_config')).toBe('guarded-setting');
    expect(timed.decide(setting('statement_timeout', '1min')).message).toBe(
      "statement_timeout 1min is above the policy's limit of 30000ms (limits.statementTimeout); set a value of at most 30000ms",
    );
  });

  it('lets statement_timeout be set freely when the policy has no limit', () => {
    expect(ruleOf(readWrite, setting('statement_timeout', '0'))).toBe('everything');
  });

  it('finds a set_config inside a wrapped statement', () => {
    const prepared = facts('session', { inner: setting('role', 'admin', 'set_config') });
    expect(ruleOf(readWrite, prepared)).toBe('guarded-setting');
  });
});

describe('copy-server-file', () => {
  it.each([
    ['to', 'file'],
    ['from', 'file'],
    ['to', 'program'],
    ['from', 'program'],
  ] as const)('denies COPY %s a server %s under every access mode', (direction, target) => {
    const copy = facts(direction === 'to' ? 'read' : 'write', { copy: { direction, target } });
    for (const e of [readOnly, readWrite]) expect(ruleOf(e, copy)).toBe('copy-server-file');
  });

  it('leaves COPY TO STDOUT and FROM STDIN to the rules', () => {
    expect(ruleOf(readWrite, facts('read', { copy: { direction: 'to', target: 'stdio' } }))).toBe(
      'everything',
    );
    expect(ruleOf(readWrite, facts('write', { copy: { direction: 'from', target: 'stdio' } }))).toBe(
      'everything',
    );
    expect(ruleOf(readOnly, facts('read', { copy: { direction: 'to', target: 'stdio' } }))).toBe(
      'everything',
    );
  });
});

describe('function-deny-list', () => {
  it.each([
    'pg_read_file',
    'pg_catalog.pg_read_binary_file',
    'pg_ls_dir',
    'pg_stat_file',
    'lo_import',
    'lo_export',
    'lo_get',
    'loread',
    'dblink',
    'dblink_exec',
    'query_to_xml',
    'pg_terminate_backend',
    'pg_cancel_backend',
    'pg_reload_conf',
    'pg_rotate_logfile',
    'pg_advisory_lock',
    'pg_try_advisory_xact_lock',
    'pg_sleep',
    'pg_logical_slot_get_changes',
    'pg_create_logical_replication_slot',
  ])('denies %s() even when a rule allows everything', (fn) => {
    for (const e of [readOnly, readWrite])
      expect(ruleOf(e, facts('read', { functions: ['now', fn] }))).toBe('function-deny-list');
  });

  it.each(['now', 'count', 'lower', 'set_config', 'current_setting', 'pg_catalog.pg_get_viewdef', 'nextval'])(
    'leaves %s() to the rules',
    (fn) => {
      expect(ruleOf(readWrite, facts('read', { functions: [fn] }))).toBe('everything');
    },
  );

  it('says why and how to exempt', () => {
    expect(readWrite.decide(facts('read', { functions: ['pg_read_file'] })).message).toBe(
      "pg_read_file() is on pgwarden's default function deny list: it reads any file the database server can read; only the policy owner can exempt it (spec.allowFunctions)",
    );
  });

  it('finds calls in wrapped statements', () => {
    expect(ruleOf(readWrite, facts('session', { inner: facts('read', { functions: ['pg_sleep'] }) }))).toBe(
      'function-deny-list',
    );
  });

  it('exempts only what allowFunctions names', () => {
    const e = engine({
      access: 'read-write',
      rules: allowAll,
      allowFunctions: ['pg_advisory_xact_lock', 'pg_sleep*'],
    });
    expect(ruleOf(e, facts('read', { functions: ['pg_advisory_xact_lock'] }))).toBe('everything');
    expect(ruleOf(e, facts('read', { functions: ['pg_catalog.pg_sleep_for'] }))).toBe('everything');
    expect(ruleOf(e, facts('read', { functions: ['pg_advisory_lock'] }))).toBe('function-deny-list');
  });
});

describe('read-only-access', () => {
  it.each(['write', 'ddl', 'dcl', 'procedural', 'admin'] as const)('denies %s statements', (kind) => {
    expect(ruleOf(readOnly, facts(kind))).toBe('read-only-access');
    expect(ruleOf(readWrite, facts(kind))).toBe('everything');
  });

  it.each(['read', 'transaction', 'session', 'utility'] as const)(
    'leaves %s statements to the rules',
    (kind) => {
      expect(ruleOf(readOnly, facts(kind))).toBe('everything');
    },
  );

  it.each<[string, StatementFacts]>([
    ['a data-modifying CTE', facts('read', { dataModifyingCte: true })],
    ['EXPLAIN ANALYZE of a write', facts('read', { explainAnalyze: true, inner: facts('write') })],
    ['EXPLAIN ANALYZE of an unknown statement', facts('read', { explainAnalyze: true })],
    ['SELECT … FOR UPDATE', facts('read', { locksRows: true })],
    ['LOCK TABLE', facts('session', { locksRows: true, tablesRead: ['orders'] })],
    ['COPY FROM STDIN', facts('read', { copy: { direction: 'from', target: 'stdio' } })],
    ['BEGIN READ WRITE', facts('transaction', { transactionReadWrite: true })],
    ['nextval()', facts('read', { functions: ['nextval'] })],
    [
      'setval() in a wrapped statement',
      facts('session', { inner: facts('read', { functions: ['pg_catalog.setval'] }) }),
    ],
  ])('denies %s, even when the kind looks harmless', (_what, f) => {
    expect(ruleOf(readOnly, f)).toBe('read-only-access');
  });

  it('allows what does not execute or write', () => {
    expect(ruleOf(readOnly, facts('read', { inner: facts('write') }))).toBe('everything'); // EXPLAIN without ANALYZE
    expect(ruleOf(readOnly, facts('read', { explainAnalyze: true, inner: facts('read') }))).toBe(
      'everything',
    );
    expect(ruleOf(readOnly, facts('transaction', { transactionReadWrite: false }))).toBe('everything');
  });

  it('says what was refused and what to do', () => {
    expect(readOnly.decide(facts('ddl'))).toEqual({
      outcome: 'deny',
      rule: 'read-only-access',
      message:
        'the policy grants read-only access, so a ddl statement is not allowed; ask the policy owner for read-write access if the task needs it',
      kind: 'ddl',
    });
    expect(readOnly.decide(facts('admin')).message).toContain('so an admin statement is not allowed');
  });
});

describe('unknown-kind', () => {
  it('denies a kind the engine does not know before anything else', () => {
    const d = readWrite.decide(facts('telepathy' as StatementFacts['kind']));
    expect(d).toMatchObject({ outcome: 'deny', rule: 'unknown-kind', kind: 'telepathy' });
  });
});
