import { AuthenticationV1Api, type V1Pod, type V1TokenReviewStatus } from '@kubernetes/client-node';
import { GRANT_TOKEN_AUDIENCE, type GrantRefusalReason, type GrantSubject } from '@pgwarden/crds';
import { apiStatus, type KubeClients } from '../kube/clients.js';
import { type ExpectedSidecar, sidecarIntegrityProblem } from '../webhook/sidecar-integrity.js';
import { RateLimiter } from './rate-limit.js';
import { type Refused, refuse } from './refusal.js';

/**
 * Who is calling: the pod a projected service-account token is bound to, as
 * the API server vouches for it. Used by every sidecar-facing API (grants,
 * approvals): each calls {@link authenticatePod} with the bearer token and
 * serves the subject it returns, or answers the refusal with its status.
 */

/** What the API server is asked; a fake in unit tests. */
export interface PodIdentityApi {
  /** A TokenReview (authentication.k8s.io/v1) of the token for these audiences. */
  reviewToken(token: string, audiences: readonly string[]): Promise<V1TokenReviewStatus>;
  /** The pod, or undefined when it does not exist. */
  readPod(namespace: string, name: string): Promise<V1Pod | undefined>;
  /** What the pod's proxy must look like: the operator's current sidecar settings. */
  expectedSidecar(): ExpectedSidecar;
}

export type PodIdentity = { ok: true; subject: GrantSubject; pod: V1Pod } | Refused;

/** The pod a bound service-account token names, in the TokenReview's user.extra (Kubernetes ≥ 1.21 sets both). */
export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
export const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';
const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;

export function podIdentityApi(clients: KubeClients, expectedSidecar: () => ExpectedSidecar): PodIdentityApi {
  const authentication = clients.config.makeApiClient(AuthenticationV1Api);
  return {
    expectedSidecar,
    async reviewToken(token, audiences) {
      const review = await authentication.createTokenReview({
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, audiences: [...audiences] },
        },
      });
      return review.status ?? {};
    },
    async readPod(namespace, name) {
      try {
        return await clients.core.readNamespacedPod({ namespace, name });
      } catch (error) {
        if (apiStatus(error) === 404) return undefined;
        throw error;
      }
    },
  };
}

/** The token of an `Authorization: Bearer …` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer +(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/**
 * Authenticates a projected token: the TokenReview must authenticate it for
 * the pgwarden.io audience (requested, and confirmed in status.audiences), it
 * must be bound to a pod, and that pod must still exist with the same uid and
 * not be going away. An API server that cannot be asked is 'unavailable'
 * (503), never a grant.
 */
export async function authenticatePod(
  api: PodIdentityApi,
  token: string,
  caller?: { remote: string; budget: TokenReviewBudget },
): Promise<PodIdentity> {
  const wait = caller ? caller.budget.waitFor(caller.remote) : 0;
  if (caller && wait > 0) {
    return refuse(
      'rate-limited',
      `${caller.remote} sent too many tokens the API server did not authenticate; retry in ${wait}s with the pod's current projected token`,
      wait,
    );
  }
  const identity = await reviewedPod(api, token);
  if (caller && !identity.ok && TOKEN_REFUSALS.includes(identity.refusal.reason)) {
    caller.budget.failed(caller.remote);
  }
  return identity;
}

/** Refusals of the token itself, which count against the caller's TokenReview budget. */
const TOKEN_REFUSALS: readonly GrantRefusalReason[] = ['invalid-token', 'wrong-audience', 'not-bound-to-pod'];

/**
 * Every token is a TokenReview, a request to the API server, made before
 * anything is known about the caller. An address whose tokens keep failing
 * (a sidecar looping on an expired token, or someone guessing) gets `burst`
 * failures, then one per 60/`perMinute` seconds; meanwhile it is answered 429
 * without a review. Authenticated callers never spend from it.
 */
export class TokenReviewBudget {
  readonly #failures: RateLimiter;

  constructor(perMinute = 30, burst = 10, now?: () => number) {
    this.#failures = new RateLimiter(perMinute, burst, now);
  }

  waitFor(remote: string): number {
    return this.#failures.waitFor(remote);
  }

  failed(remote: string): void {
    this.#failures.take(remote);
  }
}

async function reviewedPod(api: PodIdentityApi, token: string): Promise<PodIdentity> {
  let status: V1TokenReviewStatus;
  try {
    status = await api.reviewToken(token, [GRANT_TOKEN_AUDIENCE]);
  } catch (error) {
    return unavailable('review the token', error);
  }
  if (!status.authenticated) return notAuthenticated(token, status.error);
  if (!status.audiences?.includes(GRANT_TOKEN_AUDIENCE)) {
    // An audience-agnostic authenticator (a webhook, say) accepted it: not a token minted for us.
    return refuse(
      'wrong-audience',
      `the token is not valid for the audience ${GRANT_TOKEN_AUDIENCE}; mount a projected service-account token with audience ${GRANT_TOKEN_AUDIENCE}`,
    );
  }
  const user = status.user ?? {};
  const account = SERVICE_ACCOUNT_USER.exec(user.username ?? '');
  const podName = user.extra?.[POD_NAME_EXTRA]?.[0];
  const podUid = user.extra?.[POD_UID_EXTRA]?.[0];
  if (!account || !podName || !podUid) {
    return refuse(
      'not-bound-to-pod',
      `the token of ${user.username ?? 'an unknown user'} is not bound to a pod; use the projected token the pgwarden webhook mounts (a TokenRequest bound to the pod)`,
    );
  }
  const [, namespace = '', serviceAccount = ''] = account;
  return checkBoundPod(api, { namespace, pod: podName, podUid, serviceAccount });
}

/**
 * Whether the subject's pod is still the one its token was bound to: it
 * exists, has the same uid (not re-created under the same name), runs as the
 * same service account, and is neither being deleted nor finished; and
 * whether its token is still the injected proxy's alone (sidecar-integrity.ts).
 * Held long polls re-check this on every pod event.
 */
export async function checkBoundPod(api: PodIdentityApi, subject: GrantSubject): Promise<PodIdentity> {
  let pod: V1Pod | undefined;
  try {
    pod = await api.readPod(subject.namespace, subject.pod);
  } catch (error) {
    return unavailable(`read pod ${subject.namespace}/${subject.pod}`, error);
  }
  const gone = (why: string) =>
    refuse(
      'pod-gone',
      `pod ${subject.namespace}/${subject.pod} ${why}; a grant is only issued to a running pod`,
    );
  if (!pod) return gone('no longer exists');
  if (pod.metadata?.uid !== subject.podUid)
    return gone('was deleted and re-created (its uid differs from the token’s)');
  if (pod.metadata?.deletionTimestamp) return gone('is being deleted');
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return gone(`has finished (${phase})`);
  if ((pod.spec?.serviceAccountName ?? 'default') !== subject.serviceAccount) {
    return gone(`no longer runs as service account ${subject.serviceAccount}`);
  }
  const expected = api.expectedSidecar();
  // Only while the webhook starts: without its CA the pod's annotation cannot be checked.
  if (expected.grantCaPem === '') return unavailable('know the webhook CA', 'not loaded yet');
  const exposed = sidecarIntegrityProblem(pod, expected);
  if (exposed) {
    return refuse(
      'token-exposed',
      `pod ${subject.namespace}/${subject.pod}: ${exposed}; pgwarden grants access only while the injected proxy alone holds the pod's token: remove that and re-create the pod (docs/threat-model.md)`,
    );
  }
  return { ok: true, subject, pod };
}

/**
 * Why the review failed. The TokenReview says only "not authenticated"; the
 * token's own (unverified) `aud` claim tells a token for another audience
 * from an expired or forged one. It only picks the refusal's wording: nothing
 * is granted on an unverified claim.
 */
function notAuthenticated(token: string, error: string | undefined): Refused {
  const audiences = unverifiedAudiences(token);
  const detail = error ? ` (${error})` : '';
  if (audiences && !audiences.includes(GRANT_TOKEN_AUDIENCE)) {
    return refuse(
      'wrong-audience',
      `the token is for ${audiences.map((a) => JSON.stringify(a)).join(', ') || 'no audience'}, not ${GRANT_TOKEN_AUDIENCE}${detail}; mount a projected service-account token with audience ${GRANT_TOKEN_AUDIENCE}`,
    );
  }
  return refuse(
    'invalid-token',
    `the API server did not authenticate the token${detail}; it may have expired or its pod or service account may be gone`,
  );
}

function unverifiedAudiences(token: string): string[] | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      aud?: unknown;
    };
    if (typeof payload.aud === 'string') return [payload.aud];
    if (Array.isArray(payload.aud)) return payload.aud.filter((a): a is string => typeof a === 'string');
  } catch {
    // Not a JWT: invalid whatever it is.
  }
  return undefined;
}

function unavailable(what: string, error: unknown): Refused {
  return refuse('unavailable', `the operator could not ${what} (${errorSummary(error)}); retry shortly`, 2);
}

/** The log fields naming a caller (never its token), shared by the sidecar-facing APIs' audit events. */
export function subjectFields(subject: GrantSubject): Record<string, string> {
  return { namespace: subject.namespace, pod: subject.pod, serviceAccount: subject.serviceAccount };
}

/**
 * An API failure in a few words: its HTTP status or network error code. Never
 * the whole error, whose text may quote the request (a TokenReview's carries
 * the token).
 */
export function errorSummary(error: unknown): string {
  const status = apiStatus(error);
  if (status !== undefined) return `HTTP ${status}`;
  const code = (error as { code?: unknown; cause?: { code?: unknown } } | null)?.code;
  const cause = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  return String(code ?? cause ?? (error as Error)?.name ?? 'error');
}
