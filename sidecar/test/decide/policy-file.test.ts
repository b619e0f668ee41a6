import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { loadPolicyFile, parsePolicyText } from '../../src/config/policy-file.js';
import { compilePolicy } from '../../src/decide/compile.js';

const EXAMPLES = new URL('../../../examples/policies/', import.meta.url);

const valid = `apiVersion: pgwarden.io/v1alpha1
kind: AgentAccessPolicy
metadata:
  name: p
spec:
  rules:
    - name: reads
      match: {kinds: [read]}
      action: allow
`;

describe('policy files', () => {
  it.each(['read-only.yaml', 'read-write-with-approvals.yaml'])(
    'loads and compiles examples/policies/%s',
    (file) => {
      const policy = loadPolicyFile(new URL(file, EXAMPLES).pathname);
      expect(compilePolicy(policy).rules.length).toBeGreaterThan(0);
      expect(Object.isFrozen(policy.spec)).toBe(true);
    },
  );

  it('reports a document that is not a mapping', () => {
    expect(() => parsePolicyText('- a\n- b\n', 'list.yaml')).toThrow(
      'list.yaml is not a valid AgentAccessPolicy:\nlist.yaml:1: must be an object, got a list',
    );
  });

  it('reads JSON as well as YAML', () => {
    const json = JSON.stringify({
      apiVersion: 'pgwarden.io/v1alpha1',
      kind: 'AgentAccessPolicy',
      metadata: { name: 'p' },
      spec: { rules: [] },
    });
    expect(parsePolicyText(json, 'p.json').spec.rules).toEqual([]);
  });

  it('names the file, the line and the field of each error', () => {
    const text = valid
      .replace('[read]', '[read, writes]')
      .replace('action: allow', 'action: allow\n      mesage: hi');
    expect(() => parsePolicyText(text, 'policy.yaml')).toThrow(
      new ConfigError(
        [
          'policy.yaml is not a valid AgentAccessPolicy:',
          'policy.yaml:8: spec.rules[0].match.kinds[1]: unknown kind "writes"; expected one of read, write, ddl, dcl, procedural, admin, transaction, session, utility',
          'policy.yaml:10: spec.rules[0].mesage: unknown field',
        ].join('\n'),
      ),
    );
  });

  it('points a missing field at the first line of its parent', () => {
    expect(() =>
      parsePolicyText(valid.replace(/ {2}rules:[\s\S]*/, '  access: read-only\n'), 'p.yaml'),
    ).toThrow('p.yaml:6: spec.rules: is required');
  });

  it('refuses files with several documents', () => {
    expect(() => parsePolicyText(`${valid}---\n${valid}`, 'two.yaml')).toThrow(
      'two.yaml: holds 2 YAML documents; a policy file holds exactly one AgentAccessPolicy, so split them into separate files',
    );
    expect(parsePolicyText(`---\n${valid}---\n`, 'trailing.yaml').metadata.name).toBe('p');
  });

  it('refuses empty files, YAML errors and duplicate keys', () => {
    expect(() => parsePolicyText('# nothing\n', 'empty.yaml')).toThrow(
      'empty.yaml: holds no document; a policy file holds one AgentAccessPolicy',
    );
    expect(() => parsePolicyText('spec: [1,\n b: }', 'bad.yaml')).toThrow(
      /^bad\.yaml:2:\d+: not valid YAML: /,
    );
    expect(() => parsePolicyText(`${valid}      action: deny\n`, 'dup.yaml')).toThrow(
      /^dup\.yaml:10:7: not valid YAML: Map keys must be unique/,
    );
  });

  it('names a file it cannot read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgwarden-policy-'));
    expect(() => loadPolicyFile(join(dir, 'missing.yaml'))).toThrow(
      `policy file ${join(dir, 'missing.yaml')}: cannot read it: ENOENT`,
    );
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, valid);
    expect(loadPolicyFile(file).metadata.name).toBe('p');
  });
});
