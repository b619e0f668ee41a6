import type { CompiledPolicy } from '@pgwarden/crds';
import { analyze, createAnalyzer } from '../analyze/parser.js';
import type { ApprovalService } from '../approve/approval-service.js';
import { PolicyEngine } from '../decide/engine.js';
import { PolicyEnforcement, pinnedSessionSettings } from '../enforce/policy-enforcement.js';
import { Masking } from '../mask/masking.js';
import type { Logger } from '../observe/log.js';
import type { ProxyMetrics } from '../observe/metrics.js';
import { CatalogLookup } from '../session/catalog.js';
import type { UpstreamTarget } from '../session/upstream.js';

/** The statement analysis for policies without masking (shares nothing with `analyze`'s cache). */
const analyzeWithoutColumns = createAnalyzer({ columnUsage: false });

/**
 * A compiled policy made ready to enforce against one upstream: the engine,
 * the masking, and the catalog side connection both read (masked columns,
 * FunctionCall names). One per policy and upstream, shared by its sessions.
 */
export class PolicyRuntime {
  readonly enforcement: PolicyEnforcement;
  private readonly catalog: CatalogLookup;

  constructor(
    policy: CompiledPolicy,
    target: UpstreamTarget,
    approvals: ApprovalService | null,
    log: Logger,
    metrics: ProxyMetrics,
  ) {
    const catalog = new CatalogLookup(target, pinnedSessionSettings(policy), log);
    const masking = policy.masking
      ? new Masking(policy.masking, (sql) => catalog.rows(sql), analyze, log, metrics)
      : null;
    // Without masking nothing reads column usage; skipping it saves a tree walk per parsed statement.
    const analyzer = masking ? analyze : analyzeWithoutColumns;
    this.catalog = catalog;
    this.enforcement = new PolicyEnforcement(
      policy,
      new PolicyEngine(policy),
      analyzer,
      (oid) => catalog.functionName(oid),
      masking,
      approvals && policy.approval ? approvals : null,
    );
  }

  close(): void {
    this.catalog.close();
  }
}
