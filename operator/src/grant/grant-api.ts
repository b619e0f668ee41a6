import type { IncomingMessage, ServerResponse } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import {
  GRANT_API_PATH,
  GRANT_TOKEN_AUDIENCE,
  type Grant,
  type GrantRefusal,
  type GrantRequest,
  GrantRequestSchema,
  type GrantSubject,
  REVOKING_GRANT_REFUSALS,
} from '@pgwarden/crds';
import type { Log } from '../reconcile/loop.js';
import type { ChangeFeed } from './changes.js';
import { decideGrant, type GrantDecision, type GrantSources, type ObjectRef } from './decide.js';
import { type DynamicRoleIssuer, issueGrant } from './issue.js';
import { bodyIssues, readJson, sendJson } from './json-http.js';
import {
  authenticatePod,
  bearerToken,
  checkBoundPod,
  type PodIdentityApi,
  subjectFields,
  type TokenReviewBudget,
} from './pod-identity.js';
import { RateLimiter } from './rate-limit.js';
import { type Refused, refuse } from './refusal.js';

/** A GrantRequest is two fields; anything bigger is not one. */
const MAX_BODY_BYTES = 16 * 1024;
/**
 * Long polls held at once per pod: a sidecar keeps one open (two while it
 * replaces one). More are answered at once, so they count against the rate
 * limit instead of each holding a subscription for a minute.
 */
const MAX_HELD_PER_POD = 2;

/** The metrics the grant API keeps (process/metrics.ts registers them). */
export interface GrantMetrics {
  grants: { inc(labels: { result: 'issued' | 'refused'; reason: string }): void };
  grantSeconds: { observe(labels: { wait: 'none' | 'held' }, seconds: number): void };
  longPolls: { inc(): void; dec(): void };
}

/** A revocation the operator answered to a sidecar that held a grant: the hook ends what that grant made (a dynamic role). */
export interface Revocation {
  subject: GrantSubject;
  refusal: GrantRefusal;
  /** The grant's policy and connection, when this replica decided it (a held long poll). */
  previous?: { policyRef: ObjectRef; connectionRef: ObjectRef };
}

export interface GrantApiOptions {
  identity: PodIdentityApi;
  /** Bounds the TokenReviews of callers whose tokens fail; shared with the approval API. */
  reviewBudget: TokenReviewBudget;
  /** Policy, connection and credential reads; secretRevision comes from the change feed. */
  sources: Omit<GrantSources, 'secretRevision'>;
  changes: ChangeFeed;
  ttlMs: number;
  rateLimit: { perMinute: number; burst: number };
  dynamicRoles?: DynamicRoleIssuer;
  onRevoked?: (revocation: Revocation) => void | Promise<void>;
  metrics: GrantMetrics;
  /** The audit log: one event per grant issued or refused. */
  log: Log;
  now?: () => Date;
}

type Outcome = { ok: true; decision: GrantDecision } | Refused;

/**
 * POST /v1/grants (contract in crds/src/grant.ts): authenticate the pod,
 * limit its rate, decide, hold a long poll until the answer changes, issue,
 * audit. Served by every replica; nothing here needs the leader.
 */
export class GrantApi {
  readonly #o: GrantApiOptions;
  readonly #sources: GrantSources;
  readonly #limiter: RateLimiter;
  /** Wakes each held long poll, for shutdown. */
  readonly #wakers = new Set<() => void>();
  /** Held long polls by pod key. */
  readonly #holding = new Map<string, number>();
  #closing = false;

  constructor(options: GrantApiOptions) {
    this.#o = options;
    this.#sources = {
      ...options.sources,
      secretRevision: (namespace, name) => options.changes.secretRevision(namespace, name),
    };
    this.#limiter = new RateLimiter(options.rateLimit.perMinute, options.rateLimit.burst);
  }

  readonly handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const path = (req.url ?? '').split('?')[0];
    if (path !== GRANT_API_PATH) return void sendJson(res, 404, { error: `POST ${GRANT_API_PATH} only` });
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return void sendJson(res, 405, { error: `POST ${GRANT_API_PATH} only` });
    }
    const request = await readRequest(req);
    if (typeof request === 'string') {
      this.#o.log('grant-request-invalid', { error: request, remote: req.socket.remoteAddress });
      return void sendJson(res, 400, { error: request });
    }
    const token = bearerToken(req.headers.authorization);
    if (!token) {
      return this.#refused(
        res,
        refuse(
          'invalid-token',
          `no bearer token; send the pod's projected service-account token (audience ${GRANT_TOKEN_AUDIENCE}) as Authorization: Bearer`,
        ),
        { remote: req.socket.remoteAddress },
        started,
        'none',
      );
    }
    const remote = req.socket.remoteAddress ?? '';
    const identity = await authenticatePod(this.#o.identity, token, { remote, budget: this.#o.reviewBudget });
    if (!identity.ok) {
      return this.#refused(res, identity, { remote: req.socket.remoteAddress }, started, 'none');
    }
    const { subject } = identity;
    const key = `${subject.namespace}/${subject.pod}/${subject.podUid}`;
    const retryAfter = this.#limiter.take(key);
    if (retryAfter > 0) {
      const limited = refuse(
        'rate-limited',
        `pod ${subject.namespace}/${subject.pod} asked for grants too often; retry in ${retryAfter}s`,
        retryAfter,
      );
      return this.#refused(res, limited, subjectFields(subject), started, 'none');
    }
    const gone = { value: false };
    res.once('close', () => {
      gone.value = true;
    });
    const { outcome, held, previous } = await this.#decide(identity, key, request, gone, res);
    if (held) this.#limiter.refund(key);
    if (gone.value) return; // the sidecar went away while it was held
    const wait = held ? 'held' : 'none';
    if (!outcome.ok) {
      if (request.knownVersion !== null && REVOKING_GRANT_REFUSALS.includes(outcome.refusal.reason)) {
        this.#revoked(subject, outcome.refusal, previous);
      }
      return this.#refused(res, outcome, subjectFields(subject), started, wait);
    }
    const issued = await issueGrant(outcome.decision, subject, {
      now: (this.#o.now ?? (() => new Date()))(),
      ttlMs: this.#o.ttlMs,
      dynamicRoles: this.#o.dynamicRoles,
    });
    if (!issued.ok) return this.#refused(res, issued, subjectFields(subject), started, wait);
    this.#issued(res, issued.grant, started, wait);
  };

  /** Answers every held long poll now (with the grant it would have got), for shutdown. */
  close(): void {
    this.#closing = true;
    for (const wake of this.#wakers) wake();
  }

  /**
   * The decision, held while it equals the sidecar's knownVersion: every
   * change the feed reports re-reads the pod and re-decides; the deadline
   * re-decides once more, so even an issue after a quiet minute rests on
   * fresh reads.
   */
  async #decide(
    identity: { subject: GrantSubject; pod: V1Pod },
    key: string,
    request: GrantRequest,
    gone: { readonly value: boolean },
    res: ServerResponse,
  ): Promise<{ outcome: Outcome; held: boolean; previous?: GrantDecision }> {
    const { subject } = identity;
    const decide = async (pod: V1Pod): Promise<Outcome> => {
      const decision = await decideGrant(this.#sources, subject, pod);
      return decision.ok ? { ok: true, decision } : decision;
    };
    const known = request.knownVersion;
    const holding = this.#holding.get(key) ?? 0;
    if (known === null || request.waitSeconds === 0 || this.#closing || holding >= MAX_HELD_PER_POD) {
      return { outcome: await decide(identity.pod), held: false };
    }
    this.#holding.set(key, holding + 1);
    let dirty = false;
    let wake = () => {};
    const subscription = this.#o.changes.subscribe(subject.namespace, subject.pod, () => {
      dirty = true;
      wake();
    });
    const onClose = () => wake();
    res.on('close', onClose);
    const deadline = performance.now() + request.waitSeconds * 1000;
    let outcome = await decide(identity.pod);
    let previous: GrantDecision | undefined;
    let held = false;
    const unchanged = (o: Outcome) => o.ok && o.decision.version === known;
    try {
      while (unchanged(outcome) && !gone.value && !this.#closing) {
        if (!held) {
          held = true;
          this.#o.metrics.longPolls.inc();
        }
        if (outcome.ok) {
          previous = outcome.decision;
          subscription.dependOn(outcome.decision.connectionRef.name, outcome.decision.secrets);
        }
        const remaining = deadline - performance.now();
        if (!dirty && remaining > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, remaining);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
            this.#wakers.add(wake);
          });
          this.#wakers.delete(wake);
          wake = () => {};
        }
        const timedOut = performance.now() >= deadline;
        if (!dirty && !timedOut) continue; // closing, or the sidecar went away: the loop condition ends it
        dirty = false;
        const pod = await checkBoundPod(this.#o.identity, subject);
        outcome = pod.ok ? await decide(pod.pod) : pod;
        if (timedOut) break;
      }
    } finally {
      subscription.close();
      res.off('close', onClose);
      if (held) this.#o.metrics.longPolls.dec();
      const left = (this.#holding.get(key) ?? 1) - 1;
      if (left > 0) this.#holding.set(key, left);
      else this.#holding.delete(key);
    }
    return { outcome, held, previous };
  }

  #revoked(subject: GrantSubject, refusal: GrantRefusal, previous: GrantDecision | undefined): void {
    const hook = this.#o.onRevoked;
    if (!hook) return;
    const refs = previous && { policyRef: previous.policyRef, connectionRef: previous.connectionRef };
    Promise.resolve()
      .then(() => hook({ subject, refusal, previous: refs }))
      .catch((error: unknown) =>
        this.#o.log('grant-revocation-hook-failed', { ...subjectFields(subject), error: String(error) }),
      );
  }

  #issued(res: ServerResponse, grant: Grant, started: number, wait: 'none' | 'held'): void {
    sendJson(res, 200, grant);
    this.#o.metrics.grants.inc({ result: 'issued', reason: 'none' });
    this.#o.metrics.grantSeconds.observe({ wait }, (performance.now() - started) / 1000);
    this.#o.log('grant-issued', {
      ...subjectFields(grant.subject),
      policy: `${grant.policyRef.namespace}/${grant.policyRef.name}`,
      connection: `${grant.connectionRef.namespace}/${grant.connectionRef.name}`,
      grantId: grant.id,
      version: grant.version,
      credentialType: grant.credential.type,
      credentialUser: grant.credential.user,
      expiresAt: grant.expiresAt,
      wait,
    });
  }

  #refused(
    res: ServerResponse,
    refused: Refused,
    who: Record<string, unknown>,
    started: number,
    wait: 'none' | 'held',
  ): void {
    const { refusal } = refused;
    if (refusal.retryAfterSeconds !== null) res.setHeader('retry-after', String(refusal.retryAfterSeconds));
    sendJson(res, refused.status, refusal);
    this.#o.metrics.grants.inc({ result: 'refused', reason: refusal.reason });
    this.#o.metrics.grantSeconds.observe({ wait }, (performance.now() - started) / 1000);
    this.#o.log('grant-refused', {
      ...who,
      reason: refusal.reason,
      status: refused.status,
      message: refusal.message,
      wait,
    });
  }
}

/** The GrantRequest (an empty body is `{}`), or why it is not one. */
async function readRequest(req: IncomingMessage): Promise<GrantRequest | string> {
  const body = await readJson(req, MAX_BODY_BYTES, {});
  if (!body.ok) return body.error;
  const parsed = GrantRequestSchema.safeParse(body.json);
  return parsed.success ? parsed.data : `not a GrantRequest: ${bodyIssues(parsed.error)}`;
}
