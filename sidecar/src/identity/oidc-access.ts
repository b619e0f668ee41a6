import type { Counter } from 'prom-client';
import type { ApprovalService } from '../approve/approval-service.js';
import { GrantRecorders } from '../grant/grant-recorders.js';
import type { Logger } from '../observe/log.js';
import type { ProxyMetrics } from '../observe/metrics.js';
import {
  type AccessSource,
  type ClientFacts,
  fixedSessionAccess,
  type SessionAccess,
} from '../proxy/access.js';
import { PolicyRuntime } from '../proxy/policy-runtime.js';
import { PgError } from '../wire/error-response.js';
import { describeMismatch, firstMatchingRule } from './claim-rules.js';
import type { OidcAccessConfig } from './oidc-config.js';
import { OidcProviderError, OidcTokenError, OidcVerifier } from './oidc-verifier.js';

interface RuleAccess {
  rule: OidcAccessConfig['rules'][number]['rule'];
  runtime: PolicyRuntime;
  access: SessionAccess;
}

/**
 * Standalone OIDC mode: each client presents an OIDC token as its password
 * (the handshake asks for it in cleartext, on loopback only); the session runs
 * under the policy of the first rule whose claims the token carries. The
 * upstream and its credential are the sidecar's own (--upstream), the same for
 * every rule. A token is checked when a connection starts; a session outlives
 * its token's expiry, as a PostgreSQL session outlives its role's VALID UNTIL.
 */
export class OidcAccess implements AccessSource {
  readonly mode = 'oidc';

  private constructor(
    private readonly config: OidcAccessConfig,
    private readonly verifier: OidcVerifier,
    private readonly rules: readonly RuleAccess[],
    private readonly recorders: GrantRecorders | null,
    private readonly log: Logger,
    private readonly tokens: Counter<'result'>,
  ) {}

  /** Opens every rule's policy runtime and recorder before the proxy listens. */
  static async open(
    config: OidcAccessConfig,
    deps: { spoolDir: string | null; approvals: ApprovalService | null; log: Logger; metrics: ProxyMetrics },
  ): Promise<OidcAccess> {
    const log = deps.log.child({ component: 'oidc' });
    // Rules with equal recording settings share a recorder (one spool subdirectory per settings value).
    const recorders = deps.spoolDir ? new GrantRecorders(deps.spoolDir, deps.log, deps.metrics) : null;
    const rules: RuleAccess[] = [];
    for (const { rule, policy } of config.rules) {
      const runtime = new PolicyRuntime(policy, config.upstream, deps.approvals, deps.log, deps.metrics);
      const recorder = policy.recording && recorders ? await recorders.acquire(policy.recording) : null;
      rules.push({
        rule,
        runtime,
        access: fixedSessionAccess(config.upstream, runtime.enforcement, recorder),
      });
    }
    return new OidcAccess(
      config,
      new OidcVerifier(config.oidc),
      rules,
      recorders,
      log,
      deps.metrics.observeOidc(),
    );
  }

  ready(): boolean {
    return true;
  }

  async resolve(client: ClientFacts): Promise<SessionAccess> {
    const token = client.password;
    if (!token) {
      this.tokens.inc({ result: 'refused' });
      throw refused('the client sent no password; send an OIDC token from the issuer as the password');
    }
    let claims: Record<string, unknown>;
    try {
      claims = await this.verifier.verify(token);
    } catch (error) {
      if (error instanceof OidcTokenError) {
        this.tokens.inc({ result: 'refused' });
        this.log.info({ client: client.clientAddress, reason: error.message }, 'OIDC token refused');
        throw refused(error.message);
      }
      this.tokens.inc({ result: 'unavailable' });
      const message = error instanceof OidcProviderError ? error.message : String(error);
      this.log.warn({ issuer: this.config.oidc.issuer, error: message }, 'OIDC provider unavailable');
      throw new PgError({
        severity: 'FATAL',
        code: '08004',
        message: `pgwarden: cannot verify OIDC tokens now: ${message}`,
        hint: 'The sidecar could not read the issuer’s signing keys; retry later.',
      });
    }
    const match = firstMatchingRule(this.rules, claims);
    if (!match) {
      this.tokens.inc({ result: 'unmatched' });
      const why = describeMismatch(this.rules, claims);
      this.log.info({ client: client.clientAddress, subject: claims.sub, reason: why }, 'OIDC token refused');
      throw refused(`${why} (config ${this.config.file})`);
    }
    this.tokens.inc({ result: 'accepted' });
    const policy = match.access.enforcement?.policy.name;
    this.log.info(
      { client: client.clientAddress, rule: match.rule.name, subject: claims.sub, policy },
      'OIDC token accepted',
    );
    return match.access;
  }

  async close({ shipTimeoutMs }: { shipTimeoutMs: number }): Promise<void> {
    for (const rule of this.rules) rule.runtime.close();
    await this.recorders?.close(shipTimeoutMs);
  }
}

function refused(reason: string): PgError {
  return new PgError({
    severity: 'FATAL',
    code: '28000',
    message: `pgwarden: OIDC token refused: ${reason}`,
    hint: 'Connect with a current token for this sidecar’s audience as the password (e.g. a GitHub Actions OIDC token).',
  });
}
