import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type CompiledPolicy, type OidcClaimRule, type OidcConfig, OidcConfigSchema } from '@pgwarden/crds';
import { parse } from 'yaml';
import { ConfigError, formatIssues } from '../config/config-error.js';
import { loadPolicyFile } from '../config/policy-file.js';
import type { Upstream } from '../config/upstream-url.js';
import { compilePolicy, PolicyCompileError } from '../decide/compile.js';

/** Standalone OIDC mode: one upstream, the policy chosen per connection by the client's token. */
export interface OidcAccessConfig {
  mode: 'oidc';
  upstream: Upstream;
  /** The config file, for logs. */
  file: string;
  oidc: OidcConfig;
  /** The config's rules in order, each with its compiled policy. */
  rules: readonly { rule: OidcClaimRule; policy: CompiledPolicy }[];
}

/**
 * Reads and validates `--oidc-config FILE` (YAML or JSON) and compiles every
 * rule's policy, so a typo stops the start rather than a connection.
 */
export function loadOidcAccessConfig(
  file: string,
  upstream: Upstream,
  dirs: { spoolDir?: string | undefined; approvalDir?: string | undefined },
): OidcAccessConfig {
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError(`oidc-config: cannot read ${file}: ${why}`);
  }
  const parsed = OidcConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`oidc-config ${file}: ${formatIssues(parsed.error.issues)}`);
  const rules = parsed.data.rules.map((rule) => {
    const path = resolve(dirname(file), rule.policy);
    let policy: CompiledPolicy;
    try {
      policy = compilePolicy(loadPolicyFile(path));
    } catch (err) {
      if (err instanceof PolicyCompileError) throw new ConfigError(`policy file ${path}: ${err.message}`);
      throw err;
    }
    if (policy.recording && !dirs.spoolDir) {
      throw new ConfigError(
        `spool-dir: policy "${policy.name}" (OIDC rule "${rule.name}") records sessions, which needs --spool-dir DIR`,
      );
    }
    if (policy.approval && !dirs.approvalDir) {
      throw new ConfigError(
        `approval-dir: policy "${policy.name}" (OIDC rule "${rule.name}") holds statements for approval, which needs --approval-dir DIR`,
      );
    }
    return { rule, policy };
  });
  return { mode: 'oidc', upstream, file, oidc: parsed.data, rules };
}
