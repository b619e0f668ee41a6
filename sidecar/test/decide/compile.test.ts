import { CompiledPolicySchema, DEFAULT_FUNCTION_DENY_LIST, STATEMENT_KINDS } from '@pgwarden/crds';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/decide/canonical-json.js';
import { compilePolicy, PolicyCompileError } from '../../src/decide/compile.js';
import { compiled, policy } from './policies.js';

const rules = [
  {
    name: 'writes',
    match: { kinds: ['write'], tables: ['public.*'] },
    action: 'approve',
    message: 'Ask first.',
  },
  { name: 'reads', match: { kinds: ['read'] }, action: 'allow' },
];

describe('compilePolicy', () => {
  it('hashes the same spec the same whatever its key order', () => {
    const a = compiled({ access: 'read-write', rules, limits: { maxRows: 10, statementTimeout: '30s' } });
    const b = compiled({
      limits: { statementTimeout: '30s', maxRows: 10 },
      rules: rules.map((r) => ({ message: r.message, action: r.action, match: r.match, name: r.name })),
      access: 'read-write',
    });
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(b.hash).toBe(a.hash);
  });

  it('hashes a default written out like the default left out', () => {
    expect(compiled({ rules }).hash).toBe(compiled({ rules, access: 'read-only' }).hash);
  });

  it('hashes different specs differently', () => {
    expect(compiled({ rules }).hash).not.toBe(compiled({ rules: [...rules].reverse() }).hash);
    expect(compiled({ rules }).hash).not.toBe(compiled({ rules, access: 'read-write' }).hash);
  });

  it('normalizes every rule and limit into the compiled shape', () => {
    const c = compiled({ rules, limits: { statementTimeout: '2m' }, allowFunctions: ['pg_sleep'] });
    expect(CompiledPolicySchema.parse(c)).toEqual(c);
    expect(c).toMatchObject({
      name: 'test-policy',
      access: 'read-only',
      limits: { maxRows: null, statementTimeoutMs: 120_000, queriesPerMinute: null },
      functionDenyList: DEFAULT_FUNCTION_DENY_LIST.map((f) => f.pattern),
      allowFunctions: ['pg_sleep'],
    });
    expect(c.rules).toEqual([
      {
        name: 'writes',
        action: 'approve',
        message: 'Ask first.',
        match: { kinds: ['write'], tables: ['public.*'], functions: [], locks: null, names: 'any' },
      },
      {
        name: 'reads',
        action: 'allow',
        message: null,
        match: { kinds: ['read'], tables: [], functions: [], locks: null, names: 'every' },
      },
    ]);
    expect(compiled({ rules: [{ name: 'all', match: {}, action: 'deny' }] }).rules[0]?.match.kinds).toEqual([
      ...STATEMENT_KINDS,
    ]);
  });

  it('returns a deep-frozen policy', () => {
    const c = compiled({ rules });
    expect(Object.isFrozen(c.rules[0]?.match.tables)).toBe(true);
  });

  it('compiles approval with every default resolved, durations in milliseconds', () => {
    const c = compiled({ rules, approval: {} });
    expect(CompiledPolicySchema.parse(c)).toEqual(c);
    expect(c.approval).toEqual({
      approvers: { users: [], groups: [] },
      timeoutMs: 3_600_000,
      wait: { mode: 'wait', limitMs: 30_000 },
      scope: { type: 'once', durationMs: null },
      requiredApprovals: 1,
    });
    expect(
      compiled({
        rules,
        approval: {
          approvers: { users: ['dba'], groups: ['oncall'] },
          timeout: '10m',
          wait: { mode: 'fail' },
          scope: { type: 'fingerprint' },
          requiredApprovals: 2,
        },
      }).approval,
    ).toEqual({
      approvers: { users: ['dba'], groups: ['oncall'] },
      timeoutMs: 600_000,
      wait: { mode: 'fail', limitMs: 30_000 },
      scope: { type: 'fingerprint', durationMs: 3_600_000 },
      requiredApprovals: 2,
    });
    expect(compiled({ rules }).approval).toBeNull();
  });

  it('refuses approvals no one could give: more required than the users listed, and no group', () => {
    const unsatisfiable = policy({
      rules,
      approval: { approvers: { users: ['dba'] }, requiredApprovals: 2 },
    });
    expect(() => compilePolicy(unsatisfiable)).toThrow(
      'policy "test-policy" cannot be enforced: spec.approval.requiredApprovals: is 2, but approvers.users names only 1 and no group can add more',
    );
    expect(() => compilePolicy(unsatisfiable)).toThrow(PolicyCompileError);
  });

  it('compiles recording with every default resolved', () => {
    const c = compiled({ rules, recording: { sink: { type: 'dir', path: '/recordings' } } });
    expect(CompiledPolicySchema.parse(c)).toEqual(c);
    expect(c.recording).toEqual({
      sink: { type: 'dir', path: '/recordings' },
      includeRows: true,
      rowCapPerStatement: 100,
      rowBytesPerStatement: '1Mi',
      spoolCap: '1Gi',
      chunkSize: '1Mi',
      flushInterval: '1s',
      failClosed: true,
    });
    const s3 = compiled({
      rules,
      recording: {
        sink: { type: 's3', bucket: 'rec', endpoint: 'http://127.0.0.1:7070' },
        includeRows: false,
      },
    });
    expect(s3.recording?.sink).toEqual({
      type: 's3',
      bucket: 'rec',
      prefix: '',
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:7070',
      pathStyle: false,
      credentials: { accessKeyIdEnv: 'AWS_ACCESS_KEY_ID', secretAccessKeyEnv: 'AWS_SECRET_ACCESS_KEY' },
      multipartThreshold: '8Mi',
      partSize: '8Mi',
    });
    expect(s3.recording?.includeRows).toBe(false);
    expect(compiled({ rules }).recording).toBeNull();
    expect(compiled({ rules }).hash).not.toBe(c.hash);
  });

  it('compiles masking with every default resolved', () => {
    const c = compiled({
      rules,
      masking: {
        columns: [
          { column: 'public.customers.ssn', strategy: 'partial', keepLast: 4 },
          { column: '*.email', strategy: 'hash' },
        ],
        detectors: ['ssn', 'ssn', 'email'],
        hashKey: { env: 'MASK_KEY' },
      },
    });
    expect(c.masking).toEqual({
      columns: [
        { column: 'public.customers.ssn', strategy: 'partial', keepFirst: 0, keepLast: 4 },
        { column: '*.email', strategy: 'hash', keepFirst: 0, keepLast: 0 },
      ],
      labels: null,
      detectors: ['ssn', 'email'],
      derived: 'mask',
      predicates: 'deny',
      hashKeyEnv: 'MASK_KEY',
    });
    expect(compiled({ rules }).masking).toBeNull();
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops undefined', () => {
    expect(canonicalJson({ b: [{ d: 1, c: undefined, a: 'x' }], a: null })).toBe(
      '{"a":null,"b":[{"a":"x","d":1}]}',
    );
  });

  it('refuses values JSON cannot represent', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalJson({ a: 1n })).toThrow(TypeError);
  });
});
