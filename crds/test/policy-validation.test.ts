import { describe, expect, it } from 'vitest';
import { formatFieldError, formatPath } from '../src/field-errors.js';
import { validatePolicy } from '../src/validate-policy.js';

type Doc = Record<string, unknown> & { spec: Record<string, unknown> };

function document(spec: Record<string, unknown>): Doc {
  return {
    apiVersion: 'pgwarden.io/v1alpha1',
    kind: 'AgentAccessPolicy',
    metadata: { name: 'claude-ci', namespace: 'agents' },
    spec: { connection: 'orders-prod', ...spec },
  };
}

const reads = { name: 'reads', match: { kinds: ['read'] }, action: 'allow' };

/** The errors of an invalid document as "path: message" lines. */
function errorsOf(doc: unknown, standalone = false): string[] {
  const result = validatePolicy(doc, { standalone });
  if (result.ok) throw new Error('expected the policy to be invalid');
  return result.errors.map(formatFieldError);
}

describe('AgentAccessPolicy validation messages', () => {
  const cases: [string, unknown, string[]][] = [
    [
      'an unknown statement kind',
      document({
        rules: [
          reads,
          { name: 'a', match: {}, action: 'deny' },
          { name: 'w', match: { kinds: ['writes'] }, action: 'allow' },
        ],
      }),
      [
        'spec.rules[2].match.kinds[0]: unknown kind "writes"; expected one of read, write, ddl, dcl, procedural, admin, transaction, session, utility',
      ],
    ],
    [
      'approval settings: an unknown scope, a bad duration, no approvals required',
      document({
        rules: [reads],
        approval: { scope: { type: 'forever' }, wait: { limit: '30 seconds' }, requiredApprovals: 0 },
      }),
      [
        'spec.approval.wait.limit: "30 seconds" is not a duration; use a positive whole number with ms, s, m or h, e.g. 30s',
        'spec.approval.scope.type: unknown scope type "forever"; expected once, session or fingerprint',
        'spec.approval.requiredApprovals: must be at least 1',
      ],
    ],
    [
      'a duplicate rule name, pointing at the second use',
      document({ rules: [reads, { name: 'no-ddl', match: { kinds: ['ddl'] }, action: 'deny' }, reads] }),
      ['spec.rules[2].name: duplicate rule name "reads", already used by spec.rules[0]'],
    ],
    [
      'the name of a built-in rule, reported alongside other errors',
      document({ rules: [{ name: 'default-deny', match: {}, action: 'forbid' }] }),
      [
        'spec.rules[0].action: unknown action "forbid"; expected allow, deny or approve',
        'spec.rules[0].name: "default-deny" is the name of a built-in rule; choose another name',
      ],
    ],
    [
      'a misspelt match field, which would otherwise widen the rule',
      document({ rules: [{ name: 'r', match: { tabels: ['public.*'] }, action: 'allow' }] }),
      ['spec.rules[0].match.tabels: unknown field'],
    ],
    [
      'an unknown access mode',
      document({ access: 'readonly', rules: [] }),
      ['spec.access: unknown access "readonly"; expected read-only or read-write'],
    ],
    [
      'bad limits',
      document({ rules: [], limits: { maxRows: 0, statementTimeout: '30 seconds', queriesPerMinute: 1.5 } }),
      [
        'spec.limits.maxRows: must be greater than 0',
        'spec.limits.statementTimeout: "30 seconds" is not a duration; use a positive whole number with ms, s, m or h, e.g. 30s',
        'spec.limits.queriesPerMinute: must be a whole number, got 1.5',
      ],
    ],
    [
      'a statement timeout PostgreSQL cannot hold',
      document({ rules: [], limits: { statementTimeout: '600h' } }),
      ['spec.limits.statementTimeout: is longer than PostgreSQL allows (2147483647ms, about 24 days)'],
    ],
    [
      'a zero duration',
      document({ rules: [], limits: { statementTimeout: '0s' } }),
      [
        'spec.limits.statementTimeout: "0s" is not a duration; use a positive whole number with ms, s, m or h, e.g. 30s',
      ],
    ],
    [
      'a malformed name pattern and an empty list',
      document({
        rules: [{ name: 'r', match: { tables: ['public..orders'], functions: [] }, action: 'deny' }],
      }),
      [
        'spec.rules[0].match.tables[0]: "public..orders" is not a name pattern; use name or schema.name, with * and ? as wildcards',
        'spec.rules[0].match.functions: must not be empty',
      ],
    ],
    [
      'a rule name that is not a DNS label',
      document({ rules: [{ name: 'No_DDL', match: {}, action: 'deny' }] }),
      [
        'spec.rules[0].name: "No_DDL" is not a valid name: use lower-case letters, digits and "-", starting and ending with a letter or digit',
      ],
    ],
    [
      'an empty pod selector, which would bind every pod',
      document({ rules: [], subjects: { podSelector: {} } }),
      [
        'spec.subjects.podSelector: an empty selector would select every pod in the namespace; give matchLabels or matchExpressions',
      ],
    ],
    [
      'a selector requirement without values',
      document({
        rules: [],
        subjects: { podSelector: { matchExpressions: [{ key: 'app', operator: 'In' }] } },
      }),
      ['spec.subjects.podSelector.matchExpressions[0].values: operator In needs at least one value'],
    ],
    [
      'missing rules, a wrong type and a wrong apiVersion',
      { ...document({ masking: 'on' }), apiVersion: 'pgwarden.io/v1' },
      [
        'apiVersion: must be "pgwarden.io/v1alpha1", got "pgwarden.io/v1"',
        'spec.rules: is required',
        'spec.masking: must be an object, got "on"',
      ],
    ],
    [
      'recording without a sink',
      document({ rules: [], recording: {} }),
      ['spec.recording.sink: is required'],
    ],
    [
      'recording settings out of range',
      document({
        rules: [],
        recording: {
          sink: { type: 's3', bucket: 'rec', endpoint: 'ftp://store', partSize: '1Mi' },
          spoolCap: '1GB',
        },
      }),
      [
        'spec.recording.sink.endpoint: "ftp://store" is not an http:// or https:// URL',
        'spec.recording.sink.partSize: must be at least 5Mi (an S3 limit)',
        'spec.recording.spoolCap: "1GB" is not a size; use a whole number of bytes, optionally with Ki, Mi or Gi, e.g. 512Mi',
      ],
    ],
    ['a document that is not an object', ['a', 'list'], ['must be an object, got a list']],
    [
      'Kubernetes needs the connection',
      { ...document({ rules: [] }), spec: { rules: [] } },
      ['spec.connection: is required'],
    ],
  ];

  it.each(cases)('%s', (_what, doc, expected) => {
    expect(errorsOf(doc)).toEqual(expected);
  });

  it('reports every problem of a document at once', () => {
    const doc = document({
      access: 'rw',
      rules: [
        { name: 'a', match: { kinds: ['writes'] }, action: 'allow' },
        { name: 'a', match: {}, action: 'deny' },
      ],
    });
    expect(errorsOf(doc)).toHaveLength(3);
  });

  it('lets a standalone file omit the connection and the subjects', () => {
    const result = validatePolicy(
      { ...document({ rules: [reads] }), spec: { rules: [reads] } },
      { standalone: true },
    );
    expect(result.ok).toBe(true);
  });

  it('applies defaults and returns a deep-frozen policy', () => {
    const result = validatePolicy(document({ rules: [reads] }), { standalone: false });
    if (!result.ok) throw new Error('expected valid');
    expect(result.policy.spec.access).toBe('read-only');
    expect(Object.isFrozen(result.policy.spec.rules[0]?.match.kinds)).toBe(true);
  });

  it('accepts empty optional sections and server-set metadata', () => {
    const doc = document({ rules: [], masking: {}, approval: {} });
    const withServerFields = {
      ...doc,
      metadata: { name: 'p', uid: 'abc', resourceVersion: '7' },
      status: {},
    };
    expect(validatePolicy(withServerFields, { standalone: false }).ok).toBe(true);
  });
});

describe('formatPath', () => {
  it('writes keys with dots and indexes in brackets', () => {
    expect(formatPath(['spec', 'rules', 2, 'match', 'kinds', 0])).toBe('spec.rules[2].match.kinds[0]');
    expect(formatPath([0, 'name'])).toBe('[0].name');
    expect(formatPath([])).toBe('');
  });
});
