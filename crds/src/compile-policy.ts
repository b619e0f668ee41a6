import { createHash } from 'node:crypto';
import type { CompiledApproval } from './approval.js';
import { canonicalJson } from './canonical-json.js';
import type { CompiledMasking, CompiledPolicy, CompiledRule } from './compiled-policy.js';
import { parseDurationMs } from './duration.js';
import { type FieldError, formatFieldError } from './field-errors.js';
import { deepFreeze } from './freeze.js';
import { DEFAULT_FUNCTION_DENY_LIST } from './function-deny-list.js';
import type { AgentAccessPolicy, PolicyRule } from './policy.js';
import type { RecordingSettings } from './recording.js';
import { STATEMENT_KINDS } from './statement-kinds.js';

/** A valid policy this version cannot enforce as written. */
export class PolicyCompileError extends Error {
  override name = 'PolicyCompileError';

  constructor(
    readonly policyName: string,
    readonly errors: readonly FieldError[],
  ) {
    super(`policy "${policyName}" cannot be enforced: ${errors.map(formatFieldError).join('; ')}`);
  }
}

/**
 * A validated policy → the shape the engine runs (and a grant carries): every
 * default resolved, every list present, and the hash of the spec's canonical
 * JSON, which names the exact policy in decisions and recordings.
 */
export function compilePolicy(policy: AgentAccessPolicy): CompiledPolicy {
  const { spec } = policy;
  const approval = compileApproval(spec.approval);
  const unsatisfiable = approval && unsatisfiableApproval(approval);
  if (unsatisfiable) throw new PolicyCompileError(policy.metadata.name, [unsatisfiable]);

  const timeout = spec.limits?.statementTimeout;
  return deepFreeze({
    name: policy.metadata.name,
    hash: createHash('sha256').update(canonicalJson(spec)).digest('hex'),
    access: spec.access,
    rules: spec.rules.map(compileRule),
    limits: {
      maxRows: spec.limits?.maxRows ?? null,
      statementTimeoutMs: timeout === undefined ? null : parseDurationMs(timeout),
      queriesPerMinute: spec.limits?.queriesPerMinute ?? null,
    },
    functionDenyList: DEFAULT_FUNCTION_DENY_LIST.map((f) => f.pattern),
    allowFunctions: [...(spec.allowFunctions ?? [])],
    masking: compileMasking(spec.masking),
    approval,
    recording: compileRecording(spec.recording),
  });
}

/** The validated settings already carry every default; copied so the compiled policy shares nothing with the spec. */
function compileRecording(recording: AgentAccessPolicy['spec']['recording']): RecordingSettings | null {
  if (recording === undefined) return null;
  const { sink } = recording;
  return {
    ...recording,
    sink: sink.type === 's3' ? { ...sink, credentials: { ...sink.credentials } } : { ...sink },
  };
}

function compileApproval(approval: AgentAccessPolicy['spec']['approval']): CompiledApproval | null {
  if (approval === undefined) return null;
  const { scope } = approval;
  return {
    approvers: {
      users: [...(approval.approvers.users ?? [])],
      groups: [...(approval.approvers.groups ?? [])],
    },
    timeoutMs: parseDurationMs(approval.timeout) as number,
    wait: { mode: approval.wait.mode, limitMs: parseDurationMs(approval.wait.limit) as number },
    scope: {
      type: scope.type,
      durationMs: scope.type === 'fingerprint' ? (parseDurationMs(scope.duration) as number) : null,
    },
    requiredApprovals: approval.requiredApprovals,
  };
}

/** Approvals no one could give would hold every such statement until it expires: refused at compile time. */
function unsatisfiableApproval(approval: CompiledApproval): FieldError | null {
  const { users, groups } = approval.approvers;
  if (groups.length > 0 || users.length === 0 || users.length >= approval.requiredApprovals) return null;
  return {
    path: 'spec.approval.requiredApprovals',
    segments: ['spec', 'approval', 'requiredApprovals'],
    message: `is ${approval.requiredApprovals}, but approvers.users names only ${users.length} and no group can add more`,
  };
}

function compileMasking(masking: AgentAccessPolicy['spec']['masking']): CompiledMasking | null {
  if (masking === undefined) return null;
  return {
    columns: masking.columns.map((c) => ({
      column: c.column,
      strategy: c.strategy,
      keepFirst: c.keepFirst ?? 0,
      keepLast: c.keepLast ?? 0,
    })),
    labels: masking.labels
      ? { fromComments: masking.labels.fromComments, strategy: masking.labels.strategy }
      : null,
    detectors: [...new Set(masking.detectors)],
    derived: masking.derived,
    predicates: masking.predicates,
    hashKeyEnv: masking.hashKey?.env ?? null,
  };
}

function compileRule(rule: PolicyRule): CompiledRule {
  return {
    name: rule.name,
    action: rule.action,
    message: rule.message ?? null,
    match: {
      kinds: [...(rule.match.kinds ?? STATEMENT_KINDS)],
      tables: [...(rule.match.tables ?? [])],
      functions: [...(rule.match.functions ?? [])],
      locks: rule.match.locks ?? null,
      // Rules that grant without review need every name to match; rules that restrict trigger on any.
      names: rule.action === 'allow' ? 'every' : 'any',
    },
  };
}
