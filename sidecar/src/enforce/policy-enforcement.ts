import type { CompiledPolicy } from '@pgwarden/crds';
import type { Analysis } from '../analyze/facts.js';
import type { ApprovalService } from '../approve/approval-service.js';
import { type Requester, SessionApprovals } from '../approve/session-approvals.js';
import { isUnsafeClientEncoding } from '../decide/client-encodings.js';
import { ProxyErrors } from '../errors/proxy-errors.js';
import type { Masking } from '../mask/masking.js';
import type { Logger } from '../observe/log.js';
import type { ProxyMetrics } from '../observe/metrics.js';
import type { Enforcement } from '../proxy/relay.js';
import { RateLimiter } from './rate-limit.js';
import { RowLimit } from './row-limit.js';
import { StatementGate, type StatementJudge } from './statement-gate.js';
import { ErrorSubstitution } from './substitution.js';

/**
 * Startup parameters a client may pass when a policy is enforced: what drivers
 * send to set up formatting. Any other setting would bypass the classifier
 * (a startup parameter is a SET nobody parsed), so it is refused.
 */
const STARTUP_PARAMETERS = new Set([
  'application_name',
  'client_encoding',
  'datestyle',
  'timezone',
  'intervalstyle',
  'extra_float_digits',
  'bytea_output',
  'lc_monetary',
  'lc_numeric',
  'lc_time',
]);

/**
 * The policy as the proxy applies it: one shared rate budget, and per session
 * a statement gate, the error substitution it relies on, and the row limit.
 */
export class PolicyEnforcement {
  private readonly limiter: RateLimiter | null;

  constructor(
    readonly policy: CompiledPolicy,
    private readonly judge: StatementJudge,
    private readonly analyze: (sql: string) => Analysis,
    private readonly functionName: (oid: number) => Promise<string | null>,
    /** Column masking; null when the policy masks nothing. */
    readonly masking: Masking | null = null,
    /** The approval requests; null when the policy has no spec.approval. */
    readonly approvals: ApprovalService | null = null,
  ) {
    const perMinute = policy.limits.queriesPerMinute;
    this.limiter = perMinute ? new RateLimiter(perMinute) : null;
  }

  /**
   * A session's enforcement. A session that moves to a new policy at an idle
   * point passes its `substitution` on: the upstream stream it watches is the same.
   */
  forSession(
    log: Logger,
    metrics: ProxyMetrics,
    requester: Requester,
    substitution = new ErrorSubstitution(),
  ): Enforcement {
    const masking = this.masking?.forSession() ?? null;
    const approvals = this.approvals && new SessionApprovals(this.approvals, this.policy, requester);
    const gate = new StatementGate(
      {
        analyze: this.analyze,
        judge: this.judge,
        limiter: this.limiter,
        queriesPerMinute: this.policy.limits.queriesPerMinute ?? 0,
        log,
        decided: (outcome, rule) => metrics.decisions.inc({ outcome, rule }),
        functionName: this.functionName,
        masking: masking?.check ?? null,
        approvals,
      },
      substitution,
    );
    const maxRows = this.policy.limits.maxRows;
    return { gate, substitution, rowLimit: maxRows ? new RowLimit(maxRows) : null, masking, approvals };
  }

  /**
   * The startup parameters sent upstream: the client's harmless ones, then the
   * settings the policy pins (read-only, statement timeout), which the client
   * cannot override. Throws a PgError for a parameter that is not allowed.
   */
  sessionParameters(client: Map<string, string>): Map<string, string> {
    const params = new Map<string, string>();
    for (const [name, value] of client) {
      if (!STARTUP_PARAMETERS.has(name.toLowerCase())) {
        throw ProxyErrors.startupParameterRefused(
          name,
          'under a pgwarden policy only formatting parameters may be set at startup',
        );
      }
      if (name.toLowerCase() === 'client_encoding' && this.masking && !/^(utf-?8|unicode)$/i.test(value)) {
        throw ProxyErrors.startupParameterRefused(
          name,
          `the policy masks columns, which needs client_encoding UTF8, not ${value}; convert in the client`,
        );
      }
      if (name.toLowerCase() === 'client_encoding' && isUnsafeClientEncoding(value)) {
        throw ProxyErrors.startupParameterRefused(
          name,
          `client encoding ${value} can hide a quote inside a multibyte character, so what pgwarden checks could differ from what runs; use UTF8`,
        );
      }
      params.set(name, value);
    }
    for (const [name, value] of pinnedSessionSettings(this.policy)) params.set(name, value);
    // Masking reads and rewrites character data as UTF-8.
    if (this.masking) params.set('client_encoding', 'UTF8');
    return params;
  }
}

/** Settings the policy pins on every upstream session it governs. */
export function pinnedSessionSettings(policy: CompiledPolicy): Map<string, string> {
  const pinned = new Map<string, string>();
  if (policy.access === 'read-only') pinned.set('default_transaction_read_only', 'on');
  if (policy.limits.statementTimeoutMs)
    pinned.set('statement_timeout', String(policy.limits.statementTimeoutMs));
  return pinned;
}
