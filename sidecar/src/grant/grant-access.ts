import type { Grant, GrantRefusal } from '@pgwarden/crds';
import type { ApprovalService } from '../approve/approval-service.js';
import type { GrantAccessConfig } from '../config/grant-config.js';
import { Secret } from '../config/secret.js';
import type { PolicyEnforcement } from '../enforce/policy-enforcement.js';
import type { Logger } from '../observe/log.js';
import type { GrantMetrics, ProxyMetrics } from '../observe/metrics.js';
import type {
  AccessSource,
  AgentIdentity,
  GovernedSession,
  SessionAccess,
  SessionState,
} from '../proxy/access.js';
import { PolicyRuntime } from '../proxy/policy-runtime.js';
import type { Recorder } from '../record/recorder.js';
import type { UpstreamTarget } from '../session/upstream.js';
import type { PgError } from '../wire/error-response.js';
import { GrantClient } from './grant-client.js';
import { GrantErrors } from './grant-errors.js';
import { GrantRecorders } from './grant-recorders.js';
import { grantRuntimeKey, upstreamOfGrant, whyNotMovable } from './grant-runtime.js';

export interface GrantAccessDeps {
  spoolDir: string | null;
  /** Where held statements are asked about: local (--approval-dir) or the operator's approval API. */
  approvals: ApprovalService;
  log: Logger;
  metrics: ProxyMetrics;
}

/** Recordings of a runtime that outlived its grant get this long to ship when it closes. */
const RETIRED_SHIP_TIMEOUT_MS = 10_000;

/** One grant's policy and upstream made ready, shared by the sessions that run under it. */
export interface GrantRuntime {
  key: string;
  policy: PolicyRuntime;
  upstream: UpstreamTarget;
  recorder: Recorder | null;
  identity: AgentIdentity;
  /** Sessions running under it; a runtime no longer current closes when this reaches 0. */
  users: number;
}

interface Session {
  runtime: GrantRuntime;
  /** Set once the session runs; until then an end is kept in `ended` and delivered by govern(). */
  governed: GovernedSession | null;
  ended: PgError | null;
}

type State =
  | { kind: 'waiting'; lastFailure: string | null }
  | { kind: 'granted'; grant: Grant; runtime: GrantRuntime }
  | { kind: 'ended'; error: PgError };

/**
 * Grant mode (design §4): the operator's grant for this pod decides the
 * policy, the upstream and the credential. New connections get the current
 * grant; a changed policy moves open sessions at their next idle point (or
 * ends those it cannot take over); a revocation or an expiry ends every open
 * session with FATAL 28000 and refuses new ones until a grant comes again.
 */
export class GrantAccess implements AccessSource {
  readonly mode = 'grant';
  private state: State = { kind: 'waiting', lastFailure: null };
  private readonly sessions = new Set<Session>();
  private readonly recorders: GrantRecorders | null;
  private readonly grantMetrics: GrantMetrics;
  private readonly client: GrantClient;
  /** Grant events are applied in order; opening a new policy's recorder is asynchronous. */
  private applying: Promise<void> = Promise.resolve();
  private everGranted = false;

  private constructor(
    private readonly config: GrantAccessConfig,
    private readonly deps: GrantAccessDeps,
  ) {
    this.recorders = deps.spoolDir ? new GrantRecorders(deps.spoolDir, deps.log, deps.metrics) : null;
    this.grantMetrics = deps.metrics.observeGrant();
    const log = deps.log.child({ component: 'grant' });
    this.client = new GrantClient(
      { url: config.grantUrl, caPem: config.caPem, tokenFile: config.tokenFile },
      {
        granted: (grant) => this.enqueue(() => this.granted(grant)),
        revoked: (refusal) => this.enqueue(() => this.revoked(refusal)),
        expired: (grant, lastFailure) =>
          this.enqueue(() => this.end(GrantErrors.expired(grant.expiresAt, lastFailure), 'expired')),
        failed: (reason) =>
          this.enqueue(() => {
            if (this.state.kind === 'waiting') this.state = { kind: 'waiting', lastFailure: reason };
          }),
      },
      log,
      this.grantMetrics,
    );
  }

  /** Starts asking for the grant; connections are refused (and /readyz fails) until one arrives. */
  static start(config: GrantAccessConfig, deps: GrantAccessDeps): GrantAccess {
    const access = new GrantAccess(config, deps);
    access.client.start();
    return access;
  }

  ready(): boolean {
    return this.state.kind === 'granted';
  }

  async resolve(): Promise<SessionAccess> {
    const state = this.state;
    if (state.kind === 'waiting') throw GrantErrors.notGrantedYet(state.lastFailure);
    if (state.kind === 'ended') throw state.error;
    const { runtime } = state;
    runtime.users++;
    const session: Session = { runtime, governed: null, ended: null };
    this.sessions.add(session);
    return {
      upstream: runtime.upstream,
      enforcement: runtime.policy.enforcement,
      recorder: runtime.recorder,
      identity: runtime.identity,
      govern: (governed) => {
        session.governed = governed;
        if (session.ended) governed.end(session.ended);
        else if (this.policyChangedFor(session)) this.retarget(session);
      },
      release: () => {
        if (!this.sessions.delete(session)) return;
        this.leave(session.runtime);
      },
    };
  }

  async close({ shipTimeoutMs }: { shipTimeoutMs: number }): Promise<void> {
    await this.client.stop();
    await this.applying;
    const current = this.current();
    if (current) current.policy.close();
    this.state = { kind: 'ended', error: GrantErrors.notGrantedYet('the sidecar is shutting down') };
    await this.recorders?.close(shipTimeoutMs);
  }

  private enqueue(step: () => Promise<void> | void): void {
    this.applying = this.applying.then(step).catch((err: unknown) => {
      this.deps.log.error({ err }, 'applying a grant event failed');
    });
  }

  private current(): GrantRuntime | null {
    return this.state.kind === 'granted' ? this.state.runtime : null;
  }

  private async granted(grant: Grant): Promise<void> {
    const previous = this.current();
    const key = grantRuntimeKey(grant);
    if (previous && previous.key === key) {
      this.state = { kind: 'granted', grant, runtime: previous };
      return;
    }
    let runtime: GrantRuntime;
    try {
      runtime = await this.open(grant, key);
    } catch (err) {
      const reason = (err as Error).message;
      this.deps.log.error({ grant: grant.id, reason }, 'the grant cannot be enforced: access suspended');
      this.end(GrantErrors.unenforceable(reason), 'unenforceable');
      return;
    }
    this.state = { kind: 'granted', grant, runtime };
    this.everGranted = true;
    if (this.config.pod.name && this.config.pod.name !== grant.subject.pod) {
      this.deps.log.warn(
        { podName: this.config.pod.name, grantPod: grant.subject.pod },
        'the grant names another pod than PGWARDEN_POD_NAME',
      );
    }
    if (previous) {
      // Read before the moves: a session idle now moves at once, and the last to leave `previous` retires it.
      const unused = previous.users === 0;
      // Sessions under the old policy move at their next idle point; an unchanged policy needs no move.
      for (const session of this.sessions) if (this.policyChangedFor(session)) this.retarget(session);
      if (unused) this.retire(previous);
    }
  }

  private async open(grant: Grant, key: string): Promise<GrantRuntime> {
    const policy = grant.policy;
    if (policy.recording && !this.recorders) {
      throw new Error(
        `policy ${grant.policyRef.namespace}/${grant.policyRef.name} records sessions (spec.recording), which needs --spool-dir (env PGWARDEN_SPOOL_DIR)`,
      );
    }
    const recorder = policy.recording
      ? await (this.recorders as GrantRecorders).acquire(policy.recording)
      : null;
    const upstream = upstreamOfGrant(grant, new Secret(grant.credential.password));
    return {
      key,
      policy: new PolicyRuntime(policy, upstream, this.deps.approvals, this.deps.log, this.deps.metrics),
      upstream,
      recorder,
      identity: {
        pod: { namespace: grant.subject.namespace, name: grant.subject.pod },
        serviceAccount: grant.subject.serviceAccount,
      },
      users: 0,
    };
  }

  /** Whether the current grant's policy differs from the one the session runs under. */
  private policyChangedFor(session: Session): boolean {
    const current = this.current();
    return current !== null && policyHash(current) !== policyHash(session.runtime);
  }

  /** Asks the session to move to the current runtime at its next idle point. */
  private retarget(session: Session): void {
    session.governed?.retarget((state) => this.move(session, state));
  }

  /** At the session's idle point: the enforcement it continues under, or why it must end. */
  private move(session: Session, state: SessionState): PolicyEnforcement | PgError {
    const current = this.state;
    if (current.kind === 'ended') return current.error;
    if (current.kind === 'waiting') return GrantErrors.notGrantedYet(current.lastFailure);
    const from = session.runtime;
    const to = current.runtime;
    // Only the credential or the endpoint changed: they apply to new sessions, this one keeps its connection.
    if (policyHash(from) === policyHash(to)) return from.policy.enforcement;
    const policyName = `${current.grant.policyRef.namespace}/${current.grant.policyRef.name}`;
    const why = whyNotMovable(from, to, state);
    if (why !== null) {
      this.grantMetrics.retargets.inc({ outcome: 'ended' });
      this.deps.log.info(
        { policy: policyName, reason: why },
        'session ended: it cannot move to the new policy',
      );
      return GrantErrors.policyChanged(policyName, why);
    }
    this.grantMetrics.retargets.inc({ outcome: 'applied' });
    to.users++;
    session.runtime = to;
    this.leave(from);
    this.deps.log.info(
      { policy: policyName, hash: to.policy.enforcement.policy.hash },
      'session moved to the new policy',
    );
    return to.policy.enforcement;
  }

  private revoked(refusal: GrantRefusal): void {
    this.end(GrantErrors.revoked(refusal, this.everGranted), 'revoked');
  }

  /** Access ends: every open session gets `error`, new ones are refused with it until a grant comes again. */
  private end(error: PgError, cause: 'revoked' | 'expired' | 'unenforceable'): void {
    const previous = this.current();
    this.state = { kind: 'ended', error };
    let ended = 0;
    for (const session of this.sessions) {
      if (session.ended) continue;
      session.ended = error;
      session.governed?.end(error);
      ended++;
    }
    if (ended > 0) this.grantMetrics.sessionsEnded.inc({ cause }, ended);
    this.deps.log.warn({ sessions: ended, reason: error.message }, 'access ended: open sessions terminated');
    if (previous && previous.users === 0) this.retire(previous);
  }

  private leave(runtime: GrantRuntime): void {
    runtime.users--;
    if (runtime.users === 0 && runtime !== this.current()) this.retire(runtime);
  }

  /** Closes a runtime no session uses and no grant names any more. */
  private retire(runtime: GrantRuntime): void {
    runtime.policy.close();
    if (runtime.recorder) this.recorders?.release(runtime.recorder, RETIRED_SHIP_TIMEOUT_MS);
  }
}

function policyHash(runtime: GrantRuntime): string {
  return runtime.policy.enforcement.policy.hash;
}
