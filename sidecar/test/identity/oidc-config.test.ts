import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@pgwarden/e2e';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readProxyOptions } from '../../src/cli/proxy-command.js';
import { loadProxyConfig, type ProxyOptions } from '../../src/config/proxy-config.js';
import { describeMismatch, firstMatchingRule } from '../../src/identity/claim-rules.js';
import { OidcProviderError, OidcVerifier } from '../../src/identity/oidc-verifier.js';

const rule = (name: string, claims: Record<string, string>) => ({
  rule: { name, claims, policy: `${name}.yaml` },
});

describe('claim rules', () => {
  const rules = [
    rule('main', { repository: 'acme/shop', ref: 'refs/heads/main' }),
    rule('repo', { repository: 'acme/shop' }),
    rule('numbers', { run_attempt: '2', fork: 'false' }),
  ];

  it('picks the first rule whose claims all match exactly', () => {
    expect(firstMatchingRule(rules, { repository: 'acme/shop', ref: 'refs/heads/main' })?.rule.name).toBe(
      'main',
    );
    expect(firstMatchingRule(rules, { repository: 'acme/shop', ref: 'refs/heads/dev' })?.rule.name).toBe(
      'repo',
    );
    expect(firstMatchingRule(rules, { repository: 'acme/shop-fork' })).toBeUndefined();
    expect(firstMatchingRule(rules, { repository: 'ACME/shop' })).toBeUndefined();
  });

  it('compares numbers and booleans as their text, and never matches lists or objects', () => {
    expect(firstMatchingRule(rules, { run_attempt: 2, fork: false })?.rule.name).toBe('numbers');
    expect(firstMatchingRule(rules, { repository: ['acme/shop'] })).toBeUndefined();
    expect(firstMatchingRule(rules, { repository: { name: 'acme/shop' } })).toBeUndefined();
  });

  it('says which claims were checked and what the token had', () => {
    expect(describeMismatch(rules, { repository: 'x/y', run_attempt: 1, sub: 'repo:x/y' })).toBe(
      'no rule admits this token; the rules check repository, ref, run_attempt, fork and the token has repository="x/y", ref=(absent), run_attempt="1", fork=(absent)',
    );
  });
});

describe('OIDC mode configuration', () => {
  let dir: string;
  const file = (name: string) => join(dir, name);
  const config =
    (oidc: unknown, options: Partial<ProxyOptions> = {}) =>
    async () => {
      await writeFile(file('oidc.yaml'), JSON.stringify(oidc));
      return loadProxyConfig({
        upstream: 'postgresql://ci:pw@127.0.0.1:5432/app',
        listen: '127.0.0.1:0',
        oidcConfig: file('oidc.yaml'),
        ...options,
      });
    };
  const valid = {
    issuer: 'https://token.actions.githubusercontent.com',
    audience: ['pgwarden', 'pgwarden-ci'],
    rules: [{ name: 'main', claims: { repository: 'acme/shop' }, policy: 'policies/ro.yaml' }],
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pgwarden-oidc-config-'));
    await mkdir(join(dir, 'policies'));
    await writeFile(
      join(dir, 'policies/ro.yaml'),
      `apiVersion: pgwarden.io/v1alpha1
kind: AgentAccessPolicy
metadata: { name: ci-reader }
spec:
  subjects: { serviceAccounts: [ci] }
  connection: shop
  rules: [{ name: reads, match: { kinds: [read] }, action: allow }]
`,
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads the rules with their policies (paths relative to the file) and asks clients for their token', async () => {
    const loaded = await config(valid)();
    expect(loaded.clientAuth.method).toBe('oidc-token');
    expect(loaded.access.mode).toBe('oidc');
    if (loaded.access.mode !== 'oidc') return;
    expect(loaded.access.oidc).toMatchObject({
      clockTolerance: '30s',
      audience: ['pgwarden', 'pgwarden-ci'],
    });
    expect(loaded.access.rules.map((r) => [r.rule.name, r.policy.name])).toEqual([['main', 'ci-reader']]);
  });

  it('refuses what would weaken it, naming the field', async () => {
    await expect(config(valid, { listen: '0.0.0.0:5432' })()).rejects.toThrow(
      /listen: OIDC mode listens on loopback only, not 0.0.0.0: clients send their token in cleartext/,
    );
    await expect(config(valid, { policy: 'none' })()).rejects.toThrow(/policy: in OIDC mode each rule/);
    await expect(config(valid, { clientAuth: 'trust' })()).rejects.toThrow(/client-auth: in OIDC mode/);
    await expect(config(valid, { grantUrl: 'https://operator/v1/grants' })()).rejects.toThrow(
      /exclude each other/,
    );
    await expect(config({ ...valid, rules: [{ ...valid.rules[0], claims: {} }] })()).rejects.toThrow(
      /rules.0.claims: a rule needs at least one claim: without one it would admit every token/,
    );
    await expect(config({ ...valid, issuer: 'http://issuer.example' })()).rejects.toThrow(
      /issuer: must be an https:\/\/ URL/,
    );
    await expect(config({ ...valid, clockTolerance: '10m' })()).rejects.toThrow(
      /clockTolerance: is more than 5m/,
    );
    await expect(config({ ...valid, audiences: 'x' })()).rejects.toThrow(/Unrecognized key: "audiences"/);
    await expect(
      config({ ...valid, rules: [valid.rules[0], { ...valid.rules[0], claims: { ref: 'x' } }] })(),
    ).rejects.toThrow(/rules.1.name: rule name "main" is used twice/);
    await expect(
      config({ ...valid, rules: [{ ...valid.rules[0], policy: 'missing.yaml' }] })(),
    ).rejects.toThrow(/missing.yaml: cannot read it: ENOENT/);
  });

  it('loads examples/oidc/github-actions.yaml with the example policies', () => {
    const example = fileURLToPath(new URL('../../../examples/oidc/github-actions.yaml', import.meta.url));
    const loaded = loadProxyConfig({
      upstream: 'postgresql://ci@127.0.0.1:5432/orders',
      oidcConfig: example,
      approvalDir: dir,
    });
    if (loaded.access.mode !== 'oidc') throw new Error('not OIDC mode');
    expect(loaded.access.rules.map((r) => [r.rule.name, r.policy.access])).toEqual([
      ['main-branch', 'read-write'],
      ['other-branches', 'read-only'],
    ]);
  });

  it('takes --oidc-config or PGWARDEN_OIDC_CONFIG', () => {
    expect(readProxyOptions(['--oidc-config', 'a.yaml'], {}).oidcConfig).toBe('a.yaml');
    expect(readProxyOptions([], { PGWARDEN_OIDC_CONFIG: 'b.yaml' }).oidcConfig).toBe('b.yaml');
  });
});

describe('OidcVerifier', () => {
  it('reports an unreachable issuer as the provider’s fault, not the token’s, and tries again next time', async () => {
    const issuer = `http://127.0.0.1:${await freePort()}`;
    const verifier = new OidcVerifier({ issuer, audience: 'pgwarden', clockTolerance: '30s' });
    for (let i = 0; i < 2; i++) {
      const error = await verifier.verify('a.b.c').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OidcProviderError);
      expect((error as Error).message).toContain(
        `cannot read the OIDC discovery document ${issuer}/.well-known/openid-configuration`,
      );
    }
  });
});
