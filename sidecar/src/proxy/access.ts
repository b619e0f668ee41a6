import type { PolicyEnforcement } from '../enforce/policy-enforcement.js';
import type { Recorder } from '../record/recorder.js';
import type { UpstreamTarget } from '../session/upstream.js';
import type { PgError } from '../wire/error-response.js';

/**
 * Access resolution: what a new client connection runs with, decided when it
 * connects rather than fixed at start. The proxy asks its AccessSource once
 * per client connection, after the client handshake and before anything goes
 * upstream; the answer is the policy, the upstream endpoint and credential, and
 * where the session is recorded, or a refusal.
 *
 * Implementations:
 * - static (proxy/static-access.ts): --upstream and --policy, the same answer
 *   for every connection for the life of the process;
 * - grant (grant/grant-access.ts): the operator's current grant for the pod;
 *   it changes over time, and the source then re-targets or ends the sessions
 *   it handed out (see GovernedSession).
 * A source that picks the policy per client (e.g. from an OIDC token the client
 * presents as its password) decides from ClientFacts; such a source adds what
 * it needs there (the password the handshake then asks for) and nothing else
 * changes: per-connection answers are what this interface is for.
 */
export interface AccessSource {
  /** Logged at start: which kind of source this is. */
  readonly mode: 'static' | 'grant' | 'oidc';
  /** Whether a connection arriving now could be served (readiness). */
  ready(): boolean;
  /** The access of one new client connection; rejects with a PgError to refuse it (sent to the client as is). */
  resolve(client: ClientFacts): Promise<SessionAccess>;
  /** Stops the source (drain): every session has ended; recordings get `shipTimeoutMs` to ship. */
  close(options: { shipTimeoutMs: number }): Promise<void>;
}

/** What the proxy knows about a client connection when it resolves its access. */
export interface ClientFacts {
  /** host:port the client connected from. */
  clientAddress: string;
  /** The user name in the client's startup message (not an identity unless a source makes it one). */
  clientUser: string;
  /** The client's startup parameters after the handshake vetted them (no user, database, replication). */
  params: ReadonlyMap<string, string>;
  /** The cleartext password the handshake asked for (--client-auth oidc-token: the client's OIDC token); null otherwise. */
  password: string | null;
}

/** Who the agent is beyond its socket, when the source knows it (recorded in the session start). */
export interface AgentIdentity {
  pod: { namespace: string; name: string } | null;
  serviceAccount: string | null;
}

/** What one client session runs with. */
export interface SessionAccess {
  /** Where and as whom the session connects upstream (and where its CancelRequests go). */
  upstream: UpstreamTarget;
  /** The policy applied; null forwards every statement unchecked (--policy none). */
  enforcement: PolicyEnforcement | null;
  /** Where the session is recorded; null when the policy records nothing. */
  recorder: Recorder | null;
  identity: AgentIdentity;
  /** The session is running: the source may re-target or end it from now on until release(). */
  govern(session: GovernedSession): void;
  /** The session ended (or never started): the source lets go of it. Called exactly once. */
  release(): void;
}

/** A running session as an access source sees it. */
export interface GovernedSession {
  /**
   * Moves the session to another policy at its next idle point (nothing in
   * flight, outside a transaction, nothing held), before it admits another
   * message: `next` is called there with the session's state and answers the
   * policy to continue under, or the error that ends the session instead. A
   * later call replaces a `next` not yet applied.
   */
  retarget(next: (state: SessionState) => PolicyEnforcement | PgError): void;
  /** Ends the session now with `error` (FATAL) to the client. */
  end(error: PgError): void;
}

/** What a session holds that a new policy would not have decided. */
export interface SessionState {
  /** Named prepared statements (protocol Parse or SQL PREPARE) exist: their Executes were decided at Parse/PREPARE. */
  holdsPrepared: boolean;
}

/** The access of a source that never re-targets or ends its sessions: no identity beyond the socket, nothing to govern or release. */
export function fixedSessionAccess(
  upstream: UpstreamTarget,
  enforcement: PolicyEnforcement | null,
  recorder: Recorder | null,
): SessionAccess {
  return Object.freeze({
    upstream,
    enforcement,
    recorder,
    identity: { pod: null, serviceAccount: null },
    govern: () => {},
    release: () => {},
  });
}
