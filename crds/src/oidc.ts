import { z } from 'zod';
import { DurationSchema, parseDurationMs } from './duration.js';

/**
 * The standalone OIDC mode's configuration file (`pgwarden proxy --oidc-config
 * FILE`): a client presents an OIDC ID token (e.g. a GitHub Actions token) as
 * its password, the sidecar verifies it against the issuer and picks the
 * policy of the first rule whose claims the token carries. No rule matches →
 * the connection is refused.
 *
 *   issuer: https://token.actions.githubusercontent.com
 *   audience: pgwarden
 *   rules:
 *     - name: main-branch
 *       claims: { repository: acme/shop, ref: refs/heads/main }
 *       policy: policies/read-only.yaml
 */

/** Longest clock skew tolerated on exp and nbf. */
export const OIDC_MAX_CLOCK_TOLERANCE_MS = 5 * 60_000;

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** https, or http on a loopback host (a provider on the same machine, e.g. in tests). */
export const OidcProviderUrlSchema = z.url().refine(
  (text) => {
    const url = new URL(text);
    return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname));
  },
  {
    error:
      'must be an https:// URL (http:// only on localhost): signing keys fetched in the clear could be swapped',
  },
);

const ClaimRuleSchema = z
  .object({
    name: z.string().min(1).max(63).describe('Names the rule in logs and refusals.'),
    claims: z
      .record(z.string().min(1), z.string())
      .refine((claims) => Object.keys(claims).length > 0, {
        error:
          'a rule needs at least one claim: without one it would admit every token the issuer signs (for GitHub Actions: every repository)',
      })
      .describe(
        'Claims the token must carry, each with exactly this value (a number or boolean claim compares as its text). All must match.',
      ),
    policy: z
      .string()
      .min(1)
      .describe(
        'The AgentAccessPolicy file (YAML) this rule applies; relative paths start at the config file.',
      ),
  })
  .strict();
export type OidcClaimRule = z.output<typeof ClaimRuleSchema>;

export const OidcConfigSchema = z
  .object({
    issuer: OidcProviderUrlSchema.describe(
      'The token issuer, exactly as its tokens name it in `iss`; its keys come from <issuer>/.well-known/openid-configuration.',
    ),
    audience: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .describe('The audience (`aud`) tokens must be minted for; a list accepts any of them.'),
    jwksUrl: OidcProviderUrlSchema.optional().describe(
      'Where the signing keys are, instead of the jwks_uri of the discovery document.',
    ),
    clockTolerance: DurationSchema.default('30s')
      .refine((text) => (parseDurationMs(text) ?? 0) <= OIDC_MAX_CLOCK_TOLERANCE_MS, {
        error: 'is more than 5m of clock skew',
      })
      .describe('Clock skew tolerated on exp and nbf, e.g. "30s".'),
    rules: z
      .array(ClaimRuleSchema)
      .min(1)
      .describe('Tried in order; the first whose claims all match picks the policy.'),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.rules.forEach((rule, i) => {
      if (seen.has(rule.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['rules', i, 'name'],
          message: `rule name "${rule.name}" is used twice`,
        });
      }
      seen.add(rule.name);
    });
  });
export type OidcConfig = z.output<typeof OidcConfigSchema>;
