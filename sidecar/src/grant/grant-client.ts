import {
  GRANT_MAX_WAIT_SECONDS,
  type Grant,
  type GrantRefusal,
  type GrantRequest,
  REVOKING_GRANT_REFUSALS,
} from '@pgwarden/crds';
import type { Logger } from '../observe/log.js';
import type { GrantMetrics } from '../observe/metrics.js';
import { type BackoffOptions, backoffDelay, pause } from '../record/backoff.js';
import { type GrantAnswer, type GrantEndpoint, GrantRequestFailed, requestGrant } from './grant-http.js';

/** What the grant client tells its owner; each call is one change of what the pod may do. */
export interface GrantEvents {
  /** A valid grant arrived: the first, a renewal or a changed one. */
  granted(grant: Grant): void;
  /** The operator refused with a reason that ends access (REVOKING_GRANT_REFUSALS). */
  revoked(refusal: GrantRefusal): void;
  /** The held grant passed expiresAt without a renewal; `lastFailure` says why none came. */
  expired(grant: Grant, lastFailure: string | null): void;
  /** A request failed without ending access (operator unreachable, 503, bad answer); a held grant stays valid until it expires. */
  failed(reason: string): void;
}

/** Retries after failures: 0.5 s doubling to 30 s, full jitter. */
export const GRANT_BACKOFF: BackoffOptions = Object.freeze({ baseMs: 500, maxMs: 30_000 });
/** After an unchanged grant, or one whose refreshAt has passed, the next request waits this long. */
const MIN_REFRESH_INTERVAL_MS = 1000;

/**
 * Keeps the pod's grant current: fetches it at start, then keeps one long poll
 * open with the held version, so the operator answers at once when the policy
 * changes or access is revoked, and with a renewal when refreshAt comes. On
 * failures it retries with backoff (Retry-After on 429 and 503); the held grant
 * stays in force until its expiresAt, then access ends (fail closed).
 */
export class GrantClient {
  private held: Grant | null = null;
  private lastFailure: string | null = null;
  /** The revoking refusal in force ("reason: message"); null while access is granted or not yet refused. */
  private refusedWith: string | null = null;
  private failures = 0;
  private expiry: NodeJS.Timeout | null = null;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(
    private readonly endpoint: GrantEndpoint,
    private readonly events: GrantEvents,
    private readonly log: Logger,
    private readonly metrics: GrantMetrics,
    private readonly backoff: BackoffOptions = GRANT_BACKOFF,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.expiry) clearTimeout(this.expiry);
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      const body = this.nextRequest();
      let delayMs: number;
      try {
        delayMs = this.handle(await requestGrant(this.endpoint, body, signal));
      } catch (err) {
        if (signal.aborted) return;
        delayMs = this.requestFailed(err as Error);
      }
      if (delayMs > 0) await pause(delayMs, signal);
    }
  }

  /** A long poll on the held version, held no longer than until its refreshAt; a plain fetch without one. */
  private nextRequest(): GrantRequest {
    if (!this.held) return { knownVersion: null, waitSeconds: 0 };
    const untilRefresh = Math.floor((Date.parse(this.held.refreshAt) - Date.now()) / 1000);
    return {
      knownVersion: this.held.version,
      waitSeconds: Math.max(0, Math.min(GRANT_MAX_WAIT_SECONDS, untilRefresh)),
    };
  }

  /** Acts on an answer; returns how long to wait before the next request. */
  private handle(answer: GrantAnswer): number {
    if (answer.kind === 'grant') return this.granted(answer.grant);
    const { refusal, status, retryAfterSeconds } = answer;
    if (REVOKING_GRANT_REFUSALS.includes(refusal.reason)) {
      this.metrics.requests.inc({ result: 'refused' });
      const refusedWith = `${refusal.reason}: ${refusal.message}`;
      // Asking again while refused is expected: only a change is news.
      if (this.held !== null || this.refusedWith !== refusedWith) {
        this.log.warn(
          { status, reason: refusal.reason, message: refusal.message, hadAccess: this.held !== null },
          'grant refused: access ends',
        );
        this.drop();
        this.refusedWith = refusedWith;
        this.metrics.revocations.inc({ reason: refusal.reason });
        this.events.revoked(refusal);
      }
      return this.retryDelay(retryAfterSeconds);
    }
    const result = refusal.reason === 'rate-limited' ? 'rate_limited' : 'unavailable';
    this.metrics.requests.inc({ result });
    return this.failed(`${refusal.reason}: ${refusal.message}`, { status }, retryAfterSeconds);
  }

  private granted(grant: Grant): number {
    const expiresAt = Date.parse(grant.expiresAt);
    if (expiresAt <= Date.now()) {
      this.metrics.requests.inc({ result: 'invalid_answer' });
      return this.failed(
        `the operator answered with a grant that expired at ${grant.expiresAt}; check the clocks of this node and the operator's`,
        {},
        null,
      );
    }
    this.metrics.requests.inc({ result: 'granted' });
    const changed = this.held?.version !== grant.version;
    this.held = grant;
    this.refusedWith = null;
    this.lastFailure = null;
    this.failures = 0;
    this.metrics.expiresAt.set(expiresAt / 1000);
    this.metrics.valid.set(1);
    this.armExpiry(grant);
    this.log[changed ? 'info' : 'debug'](
      {
        grant: grant.id,
        version: grant.version,
        policy: { ref: `${grant.policyRef.namespace}/${grant.policyRef.name}`, hash: grant.policy.hash },
        credential: { type: grant.credential.type, user: grant.credential.user },
        expiresAt: grant.expiresAt,
        refreshAt: grant.refreshAt,
      },
      changed ? 'grant received' : 'grant renewed',
    );
    this.events.granted(grant);
    // An unchanged grant ended a long poll (or the operator does not hold requests): not again at once.
    return changed && Date.parse(grant.refreshAt) > Date.now() ? 0 : MIN_REFRESH_INTERVAL_MS;
  }

  private requestFailed(err: Error): number {
    const kind = err instanceof GrantRequestFailed ? err.kind : 'network';
    this.metrics.requests.inc({ result: kind === 'invalid-answer' ? 'invalid_answer' : 'failed' });
    return this.failed(err.message, { kind }, null);
  }

  private failed(reason: string, details: Record<string, unknown>, retryAfterSeconds: number | null): number {
    this.lastFailure = reason;
    const delayMs = this.retryDelay(retryAfterSeconds);
    this.log.warn(
      {
        ...details,
        reason,
        retryInMs: delayMs,
        grantExpiresAt: this.held?.expiresAt ?? null,
      },
      this.held
        ? 'grant request failed: the current grant stays in force until it expires'
        : 'grant request failed',
    );
    this.events.failed(reason);
    return delayMs;
  }

  private retryDelay(retryAfterSeconds: number | null): number {
    this.failures++;
    if (retryAfterSeconds !== null) return retryAfterSeconds * 1000;
    return Math.max(this.backoff.baseMs / 2, backoffDelay(this.failures - 1, this.backoff));
  }

  private armExpiry(grant: Grant): void {
    if (this.expiry) clearTimeout(this.expiry);
    // setTimeout fires at once beyond 2^31-1 ms; a longer grant is re-armed when that passes.
    const ms = Math.min(Date.parse(grant.expiresAt) - Date.now(), 2 ** 31 - 1);
    this.expiry = setTimeout(() => this.expire(grant), ms);
    this.expiry.unref();
  }

  private expire(grant: Grant): void {
    if (this.held !== grant) return;
    if (Date.now() < Date.parse(grant.expiresAt)) {
      this.armExpiry(grant);
      return;
    }
    this.drop();
    this.log.error(
      { grant: grant.id, expiresAt: grant.expiresAt, lastFailure: this.lastFailure },
      'grant expired without a renewal: access ends',
    );
    this.metrics.revocations.inc({ reason: 'expired' });
    this.events.expired(grant, this.lastFailure);
  }

  private drop(): void {
    this.held = null;
    if (this.expiry) clearTimeout(this.expiry);
    this.expiry = null;
    this.metrics.valid.set(0);
    this.metrics.expiresAt.set(0);
  }
}
