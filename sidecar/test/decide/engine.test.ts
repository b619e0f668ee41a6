import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { STATEMENT_KINDS } from '../../src/analyze/facts.js';
import { facts } from './facts.js';
import { engine } from './policies.js';

const issuePolicy = engine({
  access: 'read-write',
  rules: [
    {
      name: 'no-ddl',
      match: { kinds: ['ddl', 'dcl', 'procedural', 'admin'] },
      action: 'deny',
      message: 'Schema changes go through migrations.',
    },
    { name: 'writes-need-approval', match: { kinds: ['write'], tables: ['public.*'] }, action: 'approve' },
    { name: 'reads', match: { kinds: ['read'] }, action: 'allow' },
  ],
});

describe('user rules', () => {
  it('first match wins', () => {
    const e = engine({
      access: 'read-write',
      rules: [
        { name: 'first', match: { kinds: ['read'], tables: ['secret.*'] }, action: 'deny' },
        { name: 'second', match: { kinds: ['read'] }, action: 'allow' },
        { name: 'third', match: {}, action: 'deny' },
      ],
    });
    expect(e.decide(facts('read', { tablesRead: ['secret.keys'] })).rule).toBe('first');
    expect(e.decide(facts('read', { tablesRead: ['public.orders'] })).rule).toBe('second');
    expect(e.decide(facts('write')).rule).toBe('third');
  });

  it('decides with the rule’s action and message, or a default wording', () => {
    expect(issuePolicy.decide(facts('ddl'))).toEqual({
      outcome: 'deny',
      rule: 'no-ddl',
      message: 'Schema changes go through migrations.',
      kind: 'ddl',
    });
    expect(issuePolicy.decide(facts('write', { tablesWritten: ['public.orders'] }))).toEqual({
      outcome: 'approve',
      rule: 'writes-need-approval',
      message: "a write statement like this needs a human's approval",
      kind: 'write',
    });
    expect(issuePolicy.decide(facts('read')).outcome).toBe('allow');
  });

  it('denies what no rule matches, saying which kind', () => {
    expect(issuePolicy.decide(facts('transaction'))).toEqual({
      outcome: 'deny',
      rule: 'default-deny',
      message: 'no rule allows a transaction statement; ask the policy owner for a rule that covers it',
      kind: 'transaction',
    });
    expect(issuePolicy.decide(facts('write', { tablesWritten: ['audit.log'] })).rule).toBe('default-deny');
    expect(engine({ access: 'read-write', rules: [] }).decide(facts('read')).rule).toBe('default-deny');
  });

  it('returns the same frozen decision for the same rule and kind (nothing allocated per statement)', () => {
    const a = issuePolicy.decide(facts('read', { tablesRead: ['a'] }));
    expect(issuePolicy.decide(facts('read', { tablesRead: ['b'] }))).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
  });
});

describe('tables and functions: any for deny and approve, every for allow', () => {
  const e = engine({
    access: 'read-write',
    rules: [
      { name: 'no-secrets', match: { tables: ['secret.keys'] }, action: 'deny' },
      { name: 'public-writes', match: { kinds: ['write'], tables: ['public.*'] }, action: 'approve' },
      { name: 'public-reads', match: { kinds: ['read'], tables: ['public.*'] }, action: 'allow' },
      { name: 'math', match: { functions: ['abs', 'round'] }, action: 'allow' },
    ],
  });

  it('a deny rule matches when any table matches, read or written, at any level', () => {
    expect(e.decide(facts('read', { tablesRead: ['public.orders', 'secret.keys'] })).rule).toBe('no-secrets');
    expect(e.decide(facts('write', { tablesWritten: ['secret.keys'] })).rule).toBe('no-secrets');
    expect(e.decide(facts('session', { inner: facts('read', { tablesRead: ['secret.keys'] }) })).rule).toBe(
      'no-secrets',
    );
  });

  it('an approve rule matches when any table matches', () => {
    const d = e.decide(facts('write', { tablesWritten: ['public.orders'], tablesRead: ['audit.log'] }));
    expect(d.rule).toBe('public-writes');
  });

  it('an allow rule needs every table to match', () => {
    expect(e.decide(facts('read', { tablesRead: ['public.orders', 'public.customers'] })).rule).toBe(
      'public-reads',
    );
    expect(e.decide(facts('read', { tablesRead: ['public.orders', 'audit.log'] })).rule).toBe('default-deny');
    expect(
      e.decide(
        facts('read', { inner: facts('read', { tablesRead: ['audit.log'] }), tablesRead: ['public.a'] }),
      ).rule,
    ).toBe('default-deny');
  });

  it('an allow rule with tables needs at least one table', () => {
    expect(e.decide(facts('read')).rule).toBe('default-deny');
  });

  it('functions follow the same rule', () => {
    expect(e.decide(facts('utility', { functions: ['abs', 'pg_catalog.round'] })).rule).toBe('math');
    expect(e.decide(facts('utility', { functions: ['abs', 'now'] })).rule).toBe('default-deny');
    expect(e.decide(facts('utility')).rule).toBe('default-deny');
    const deny = engine({
      access: 'read-write',
      rules: [{ name: 'no-now', match: { functions: ['now'] }, action: 'deny' }],
    });
    expect(deny.decide(facts('read', { functions: ['abs', 'now'] })).rule).toBe('no-now');
  });

  it('an unqualified table matches a qualified pattern by its name part', () => {
    expect(e.decide(facts('read', { tablesRead: ['keys'] })).rule).toBe('no-secrets');
    expect(e.decide(facts('read', { tablesRead: ['orders'] })).rule).toBe('public-reads');
  });
});

describe('locks', () => {
  const e = engine({
    access: 'read-write',
    rules: [
      { name: 'locks', match: { locks: true }, action: 'approve' },
      { name: 'plain-reads', match: { kinds: ['read'], locks: false }, action: 'allow' },
    ],
  });

  it('matches on whether the statement locks rows or tables', () => {
    expect(e.decide(facts('read', { locksRows: true })).rule).toBe('locks');
    expect(e.decide(facts('session', { locksRows: true })).rule).toBe('locks');
    expect(e.decide(facts('read')).rule).toBe('plain-reads');
  });
});

describe('decideMessage', () => {
  const read = facts('read');
  const write = facts('write', { tablesWritten: ['public.orders'] });
  const ddl = facts('ddl');
  const commit = facts('transaction');

  it('denies the whole message with the first denied statement’s decision', () => {
    const d = issuePolicy.decideMessage([read, write, ddl, commit]);
    expect(d).toMatchObject({ outcome: 'deny', rule: 'no-ddl', kind: 'ddl' });
    expect(issuePolicy.decideMessage([read, commit, ddl])).toMatchObject({
      rule: 'default-deny',
      kind: 'transaction',
    });
  });

  it('holds the message for approval when nothing is denied and something needs approval', () => {
    expect(issuePolicy.decideMessage([read, write, read])).toMatchObject({
      outcome: 'approve',
      rule: 'writes-need-approval',
    });
  });

  it('allows a message whose statements are all allowed', () => {
    expect(issuePolicy.decideMessage([read, read])).toMatchObject({ outcome: 'allow', rule: 'reads' });
  });

  it('allows an empty message', () => {
    expect(issuePolicy.decideMessage([])).toEqual({
      outcome: 'allow',
      rule: 'empty-message',
      message: 'the message holds no statement',
      kind: 'utility',
    });
  });
});

describe('decideMessage, for any sequence of statements', () => {
  const statement = fc
    .record({
      kind: fc.constantFrom(...STATEMENT_KINDS),
      table: fc.constantFrom('public.orders', 'audit.log', 'orders'),
      writes: fc.boolean(),
    })
    .map(({ kind, table, writes }) =>
      facts(kind, writes ? { tablesWritten: [table] } : { tablesRead: [table] }),
    );

  it('is deny when any statement is denied, else approve when any needs approval, else allow', () => {
    fc.assert(
      fc.property(fc.array(statement, { maxLength: 8 }), (statements) => {
        const outcomes = statements.map((f) => issuePolicy.decide(f).outcome);
        const message = issuePolicy.decideMessage(statements);
        const firstDenied = statements.findIndex((_, i) => outcomes[i] === 'deny');
        if (firstDenied >= 0) {
          expect(message).toEqual(issuePolicy.decide(statements[firstDenied] as (typeof statements)[number]));
        } else if (outcomes.includes('approve')) expect(message.outcome).toBe('approve');
        else expect(message.outcome).toBe('allow');
      }),
    );
  });
});
