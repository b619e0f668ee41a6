import { createHash } from 'node:crypto';
import type { Grant } from '@pgwarden/crds';
import type { Secret } from '../config/secret.js';
import { pinnedSessionSettings } from '../enforce/policy-enforcement.js';
import type { SessionState } from '../proxy/access.js';
import type { ConnectEndpoint, UpstreamTarget } from '../session/upstream.js';
import type { GrantRuntime } from './grant-access.js';

/**
 * What decides whether a new grant needs a new runtime: the policy, where it
 * connects and with which credential. A renewal that changes none of them
 * keeps the runtime (and its catalog connection).
 */
export function grantRuntimeKey(grant: Grant): string {
  return createHash('sha256')
    .update(
      JSON.stringify([grant.policy.hash, grant.upstream, grant.credential.user, grant.credential.password]),
    )
    .digest('hex');
}

/** The grant's upstream as the sidecar connects to it; a verifying sslMode without a CA uses the system's. */
export function upstreamOfGrant(grant: Grant, password: Secret): UpstreamTarget {
  const { host, port, database, sslMode, caPem, connectTimeoutMs } = grant.upstream;
  const verifies = sslMode === 'verify-ca' || sslMode === 'verify-full';
  const endpoint: ConnectEndpoint = {
    host,
    port,
    database,
    user: grant.credential.user,
    sslMode,
    connectTimeoutMs,
    ...(caPem !== null ? { sslRootCertPem: caPem } : verifies ? { sslRootCert: 'system' } : {}),
  };
  return { endpoint, password };
}

/**
 * Why an open session cannot continue under `to` without reconnecting, or
 * null when it can. What was fixed when the session started must be the same
 * under both: the database its connection goes to, the settings the policy
 * pinned in its startup packet, the UTF-8 encoding masking relies on, and the
 * recording it writes to; and nothing decided by the old policy may run later
 * (named prepared statements execute what their Parse or PREPARE decided).
 */
export function whyNotMovable(from: GrantRuntime, to: GrantRuntime, state: SessionState): string | null {
  const a = from.upstream.endpoint;
  const b = to.upstream.endpoint;
  if (a.host !== b.host || a.port !== b.port || a.database !== b.database) {
    return `the grant now connects to another database (${b.host}:${b.port}/${b.database})`;
  }
  const oldPolicy = from.policy.enforcement.policy;
  const newPolicy = to.policy.enforcement.policy;
  if (!sameEntries(pinnedSessionSettings(oldPolicy), pinnedSessionSettings(newPolicy))) {
    return 'the new policy pins other session settings (read-only access, statement timeout)';
  }
  if (newPolicy.masking && !oldPolicy.masking) {
    return 'the new policy masks columns, which needs a session set up for masking';
  }
  if (from.recorder !== to.recorder) return 'the new policy records sessions differently';
  if (state.holdsPrepared) {
    return 'the session holds named prepared statements decided under the old policy';
  }
  return null;
}

function sameEntries(a: Map<string, string>, b: Map<string, string>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}
