// The sidecar's analyzer and policy engine, run in-process by the decision-cost
// micro benchmark. Imported from the sidecar's build by path, as
// processes/pgwarden.ts runs its CLI: the package exports only the proxy, and
// these modules are internals, not API. e2e/tsconfig.json references the
// sidecar project so `tsc -b` builds it first. The paths resolve the same from
// e2e/src/bench/ and e2e/dist/bench/.
import { fileURLToPath } from 'node:url';
import { loadPolicyFile } from '../../../sidecar/dist/config/policy-file.js';
import { compilePolicy } from '../../../sidecar/dist/decide/compile.js';
import { PolicyEngine } from '../../../sidecar/dist/decide/engine.js';

export type { StatementFacts } from '../../../sidecar/dist/analyze/facts.js';
export { type Analyzer, createAnalyzer, ensureParserLoaded } from '../../../sidecar/dist/analyze/parser.js';
export type { Decision } from '../../../sidecar/dist/decide/decision.js';
export type { PolicyEngine };

/** The policy of the pgwarden+policy target; tsc does not copy it, so dist/ reads it from src/. */
export const benchPolicyPath = fileURLToPath(new URL('../../src/bench/bench-policy.yaml', import.meta.url));

/** The bench policy loaded, validated and compiled as `pgwarden proxy --policy` does. */
export function benchPolicyEngine(): PolicyEngine {
  return new PolicyEngine(compilePolicy(loadPolicyFile(benchPolicyPath)));
}
