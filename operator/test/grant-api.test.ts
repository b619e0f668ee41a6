import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { V1Pod, V1TokenReviewStatus } from '@kubernetes/client-node';
import { GrantRefusalSchema, GrantSchema } from '@pgwarden/crds';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CredentialsResult } from '../src/database-connection/credentials.js';
import type { ChangeFeed } from '../src/grant/changes.js';
import { GrantApi, type GrantApiOptions, type Revocation } from '../src/grant/grant-api.js';
import { TokenReviewBudget } from '../src/grant/pod-identity.js';
import { asInjected, TEST_SIDECAR } from './injected-pod.js';

// The grant API over real HTTP with its collaborators faked: the TokenReview
// and pod reads (PodIdentityApi), the policy/connection/Secret reads
// (GrantSources) and the change feed. grant-e2e.test.ts runs it against the
// real API server.

const NS = 'agents';
const POD_UID = 'uid-1';
const PASSWORD = 's3cret-password';
const TOKEN = 'the-projected-token';

/** A token the fake TokenReview knows: its audiences and the pod it is bound to. */
interface FakeToken {
  authenticated: boolean;
  audiences?: string[];
  pod?: string;
  uid?: string;
  error?: string;
}

function jwt(aud: string | string[]): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'ES256' })}.${part({ aud, sub: 'x' })}.sig`;
}

function policy(name: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'pgwarden.io/v1alpha1',
    kind: 'AgentAccessPolicy',
    metadata: { name, namespace: NS },
    spec: {
      subjects: { serviceAccounts: ['agent'] },
      connection: 'orders',
      rules: [{ name: 'reads', match: { kinds: ['read'] }, action: 'allow' }],
      ...spec,
    },
  };
}

const staticConnection = {
  host: 'db.internal',
  port: 5432,
  database: 'orders',
  tls: { mode: 'disable' },
  credentials: { static: { secretRef: { name: 'orders-role' } } },
};

const dynamicAdmin: CredentialsResult = {
  ok: true,
  mode: 'dynamic',
  credentials: { user: 'admin', password: 'admin-pw' },
  dynamic: {
    adminSecretRef: { name: 'orders-admin' },
    usernameKey: 'username',
    passwordKey: 'password',
    memberOf: ['readers'],
    connectionLimit: 10,
    rolePrefix: 'pgw_',
  },
};

class FakeFeed implements ChangeFeed {
  readonly subscribers = new Set<{ pod: string; wake: () => void }>();
  revisions = new Map<string, string>();
  subscribe(_namespace: string, pod: string, wake: () => void) {
    const entry = { pod, wake };
    this.subscribers.add(entry);
    return { dependOn: () => {}, close: () => this.subscribers.delete(entry) };
  }
  secretRevision(_namespace: string, name: string) {
    return this.revisions.get(name) ?? '1';
  }
  wakeAll() {
    for (const s of this.subscribers) s.wake();
  }
}

function world() {
  const tokens = new Map<string, FakeToken>([
    [TOKEN, { authenticated: true, audiences: ['pgwarden.io'], pod: 'agent-1', uid: POD_UID }],
  ]);
  const pods = new Map<string, V1Pod>([
    [
      'agent-1',
      asInjected({
        metadata: { name: 'agent-1', namespace: NS, uid: POD_UID, labels: { app: 'agent' } },
        spec: { serviceAccountName: 'agent', containers: [{ name: 'agent', image: 'agent:1' }] },
        status: { phase: 'Pending' },
      }),
    ],
  ]);
  const policies: unknown[] = [policy('analytics')];
  const connections = new Map<string, unknown>([['orders', staticConnection]]);
  let credentials: CredentialsResult = {
    ok: true,
    mode: 'static',
    credentials: { user: 'app_ro', password: PASSWORD },
  };
  let reviewFails = false;
  const feed = new FakeFeed();
  const logs: { event: string; fields: Record<string, unknown> }[] = [];
  const counts = new Map<string, number>();
  const bump = (key: string, by = 1) => counts.set(key, (counts.get(key) ?? 0) + by);
  const revocations: Revocation[] = [];
  const options: GrantApiOptions = {
    identity: {
      async reviewToken(token, audiences): Promise<V1TokenReviewStatus> {
        bump('reviews');
        if (reviewFails) throw Object.assign(new Error(`boom ${token}`), { code: 500 });
        const known = tokens.get(token);
        if (!known?.authenticated)
          return { authenticated: false, error: known?.error ?? 'invalid bearer token' };
        const extra: Record<string, string[]> = {};
        if (known.pod) extra['authentication.kubernetes.io/pod-name'] = [known.pod];
        if (known.uid) extra['authentication.kubernetes.io/pod-uid'] = [known.uid];
        expect(audiences).toEqual(['pgwarden.io']);
        return {
          authenticated: true,
          audiences: known.audiences,
          user: { username: `system:serviceaccount:${NS}:agent`, extra },
        };
      },
      readPod: async (_namespace, name) => structuredClone(pods.get(name)),
      expectedSidecar: () => TEST_SIDECAR,
    },
    reviewBudget: new TokenReviewBudget(),
    sources: {
      listPolicies: async () => structuredClone(policies),
      getConnectionSpec: async (_namespace, name) => structuredClone(connections.get(name)),
      readCredentials: async () => credentials,
    },
    changes: feed,
    ttlMs: 600_000,
    rateLimit: { perMinute: 60, burst: 10 },
    onRevoked: (revocation) => {
      revocations.push(revocation);
    },
    metrics: {
      grants: { inc: ({ result, reason }) => bump(`grants ${result} ${reason}`) },
      grantSeconds: { observe: ({ wait }) => bump(`seconds ${wait}`) },
      longPolls: { inc: () => bump('longPolls'), dec: () => bump('longPolls', -1) },
    },
    log: (event, fields) => logs.push({ event, fields }),
    now: () => new Date('2026-01-01T00:00:00.000Z'),
  };
  return {
    tokens,
    pods,
    policies,
    connections,
    feed,
    logs,
    counts,
    revocations,
    options,
    setCredentials: (c: CredentialsResult) => {
      credentials = c;
    },
    failReviews: () => {
      reviewFails = true;
    },
  };
}

type World = ReturnType<typeof world>;

describe('grant API', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  async function serve(w: World, overrides: Partial<GrantApiOptions> = {}) {
    const api = new GrantApi({ ...w.options, ...overrides });
    const server = createServer((req, res) => void api.handler(req, res));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const post = async (body: unknown = {}, token: string | null = TOKEN, init: RequestInit = {}) => {
      const response = await fetch(`${base}/v1/grants`, {
        method: 'POST',
        headers: token === null ? {} : { authorization: `Bearer ${token}` },
        body: typeof body === 'string' ? body : JSON.stringify(body),
        ...init,
      });
      return { status: response.status, headers: response.headers, body: (await response.json()) as unknown };
    };
    return { api, base, post };
  }

  const grantOf = (answer: { status: number; body: unknown }) => {
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return GrantSchema.parse(answer.body);
  };
  const refusalOf = (answer: { status: number; body: unknown }) => GrantRefusalSchema.parse(answer.body);

  it('issues the bound policy, compiled, with the connection, credential and times, and audits it without secrets', async () => {
    const w = world();
    const { post } = await serve(w);
    const grant = grantOf(await post());
    expect(grant).toMatchObject({
      kind: 'Grant',
      subject: { namespace: NS, pod: 'agent-1', podUid: POD_UID, serviceAccount: 'agent' },
      policyRef: { namespace: NS, name: 'analytics' },
      policy: { name: 'analytics' },
      connectionRef: { namespace: NS, name: 'orders' },
      upstream: { host: 'db.internal', port: 5432, database: 'orders', sslMode: 'disable', caPem: null },
      credential: { type: 'static', user: 'app_ro', password: PASSWORD, validUntil: null },
      issuedAt: '2026-01-01T00:00:00.000Z',
      refreshAt: '2026-01-01T00:05:00.000Z',
      expiresAt: '2026-01-01T00:10:00.000Z',
    });
    expect(grant.upstream.connectTimeoutMs).toBe(10_000);
    const second = grantOf(await post());
    expect(second.version).toBe(grant.version);
    expect(second.id).not.toBe(grant.id);
    const audit = w.logs.filter((l) => l.event === 'grant-issued');
    expect(audit).toHaveLength(2);
    expect(audit[0]?.fields).toMatchObject({
      namespace: NS,
      pod: 'agent-1',
      serviceAccount: 'agent',
      policy: `${NS}/analytics`,
      grantId: grant.id,
      expiresAt: grant.expiresAt,
      credentialUser: 'app_ro',
    });
    expect(JSON.stringify(w.logs)).not.toContain(PASSWORD);
    expect(JSON.stringify(w.logs)).not.toContain(TOKEN);
    expect(w.counts.get('grants issued none')).toBe(2);
  });

  it('refuses with the reason, the status and a message that says what to do', async () => {
    const w = world();
    w.tokens.set('expired', { authenticated: false, error: 'service account token has expired' });
    w.tokens.set(jwt('https://kubernetes.default.svc'), { authenticated: false });
    w.tokens.set('agnostic', { authenticated: true, audiences: ['other'], pod: 'agent-1', uid: POD_UID });
    w.tokens.set('unbound', { authenticated: true, audiences: ['pgwarden.io'] });
    w.tokens.set('gone', { authenticated: true, audiences: ['pgwarden.io'], pod: 'agent-9', uid: 'u9' });
    w.tokens.set('recreated', {
      authenticated: true,
      audiences: ['pgwarden.io'],
      pod: 'agent-1',
      uid: 'old',
    });
    const { post } = await serve(w);
    const cases: [string | null, number, string, RegExp][] = [
      [null, 401, 'invalid-token', /no bearer token/],
      ['expired', 401, 'invalid-token', /service account token has expired/],
      [
        jwt('https://kubernetes.default.svc'),
        401,
        'wrong-audience',
        /kubernetes\.default\.svc.*not pgwarden\.io/,
      ],
      ['agnostic', 401, 'wrong-audience', /audience pgwarden\.io/],
      ['unbound', 403, 'not-bound-to-pod', /not bound to a pod/],
      ['gone', 403, 'pod-gone', /agents\/agent-9 no longer exists/],
      ['recreated', 403, 'pod-gone', /re-created/],
    ];
    for (const [token, status, reason, message] of cases) {
      const answer = await post({}, token);
      expect([answer.status, refusalOf(answer).reason], String(token)).toEqual([status, reason]);
      expect(refusalOf(answer).message).toMatch(message);
    }
    const pod = w.pods.get('agent-1') as V1Pod;
    pod.metadata = { ...pod.metadata, deletionTimestamp: new Date() };
    expect(refusalOf(await post()).message).toMatch(/is being deleted/);
    pod.metadata = { ...pod.metadata, deletionTimestamp: undefined };
    pod.status = { phase: 'Succeeded' };
    expect(refusalOf(await post()).message).toMatch(/has finished \(Succeeded\)/);
    pod.status = { phase: 'Running' };
    // Another container that can read the token: whoever runs it could take the grant's credential.
    const agent = pod.spec?.containers.find((c) => c.name === 'agent');
    if (agent) agent.volumeMounts = [{ name: 'pgwarden-token', mountPath: '/var/run/secrets/pgwarden.io' }];
    const exposed = await post();
    expect([exposed.status, refusalOf(exposed).reason]).toEqual([403, 'token-exposed']);
    expect(refusalOf(exposed).message).toBe(
      `pod ${NS}/agent-1: container agent mounts pgwarden-token, which only the pgwarden proxy may mount; pgwarden grants access only while the injected proxy alone holds the pod's token: remove that and re-create the pod (docs/threat-model.md)`,
    );
    expect(w.logs.filter((l) => l.event === 'grant-refused')).toHaveLength(cases.length + 3);
    expect(JSON.stringify(w.logs)).not.toContain(TOKEN);
  });

  it('refuses pods no policy, several policies or an invalid policy binds, and unusable connections', async () => {
    const w = world();
    const { post } = await serve(w);
    const expectRefusal = async (reason: string, message: RegExp) => {
      const answer = await post();
      expect(answer.status).toBe(403);
      expect(refusalOf(answer)).toMatchObject({ reason });
      expect(refusalOf(answer).message).toMatch(message);
    };
    w.policies.splice(0, 1, policy('other-team', { subjects: { serviceAccounts: ['someone-else'] } }));
    await expectRefusal(
      'no-policy',
      /no AgentAccessPolicy in namespace agents binds pod agents\/agent-1 \(service account agent\)/,
    );
    w.policies.push(policy('b-by-label', { subjects: { podSelector: { matchLabels: { app: 'agent' } } } }));
    w.policies.push(policy('a-by-account'));
    await expectRefusal('multiple-policies', /a-by-account, b-by-label in namespace agents all bind/);
    w.policies.splice(
      0,
      3,
      policy('broken', { rules: [{ name: 'x', match: { kinds: ['nonsense'] }, action: 'allow' }] }),
    );
    await expectRefusal(
      'policy-invalid',
      /AgentAccessPolicy agents\/broken is not valid: spec\.rules\[0\]\.match\.kinds\[0\]/,
    );
    w.policies.splice(0, 1, policy('analytics', { connection: 'missing' }));
    await expectRefusal('connection-unavailable', /names DatabaseConnection missing, which does not exist/);
    w.policies.splice(0, 1, policy('analytics'));
    w.setCredentials({ ok: false, reason: 'SecretNotFound', message: 'Secret agents/orders-role not found' });
    await expectRefusal(
      'connection-unavailable',
      /has no usable credential: Secret agents\/orders-role not found/,
    );
    w.setCredentials(dynamicAdmin);
    await expectRefusal('connection-unavailable', /dynamic credentials, which this operator does not serve/);
  });

  it('hands a dynamic connection the role made for the grant, never the admin, and drops it at revocation', async () => {
    const w = world();
    w.setCredentials(dynamicAdmin);
    const issued: { expiresAt: Date; policy: string; connection: string }[] = [];
    const { post } = await serve(w, {
      dynamicRoles: {
        async issue({ policyRef, connectionRef, expiresAt }) {
          issued.push({ expiresAt, policy: policyRef.name, connection: connectionRef.name });
          return {
            type: 'dynamic',
            user: 'pgw_role',
            password: 'role-pw',
            validUntil: expiresAt.toISOString(),
          };
        },
      },
    });
    const grant = grantOf(await post());
    expect(grant.credential).toEqual({
      type: 'dynamic',
      user: 'pgw_role',
      password: 'role-pw',
      validUntil: grant.expiresAt,
    });
    expect(issued).toEqual([
      { expiresAt: new Date(grant.expiresAt), policy: 'analytics', connection: 'orders' },
    ]);
    expect(JSON.stringify(grant)).not.toContain('admin-pw');
    // The same decision keeps its version across issues, so a long poll holds.
    expect(grantOf(await post()).version).toBe(grant.version);
    w.policies.splice(0, 1);
    const revoked = await post({ knownVersion: grant.version });
    expect(refusalOf(revoked).reason).toBe('no-policy');
    expect(w.revocations.map((r) => r.subject.podUid)).toEqual([POD_UID]);
  });

  it('answers 503 with Retry-After when the API server cannot be asked, without quoting the token', async () => {
    const w = world();
    w.failReviews();
    const { post } = await serve(w);
    const answer = await post();
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('2');
    expect(refusalOf(answer)).toMatchObject({ reason: 'unavailable', retryAfterSeconds: 2 });
    expect(refusalOf(answer).message).toContain('HTTP 500');
    expect(JSON.stringify(answer.body)).not.toContain(TOKEN);
  });

  it('changes the version with the policy and a rotated Secret, never with the password itself', async () => {
    const w = world();
    const { post } = await serve(w);
    const first = grantOf(await post()).version;
    w.setCredentials({ ok: true, mode: 'static', credentials: { user: 'app_ro', password: 'another' } });
    expect(grantOf(await post()).version).toBe(first);
    w.feed.revisions.set('orders-role', '2');
    const rotated = grantOf(await post()).version;
    expect(rotated).not.toBe(first);
    w.policies.splice(0, 1, policy('analytics', { access: 'read-write' }));
    expect(grantOf(await post()).version).not.toBe(rotated);
  });

  it('holds a long poll until a change: a deleted policy answers the held request with a revocation', async () => {
    const w = world();
    const { post } = await serve(w);
    const { version } = grantOf(await post());
    const held = post({ knownVersion: version, waitSeconds: 60 });
    await vi.waitFor(() => expect(w.counts.get('longPolls')).toBe(1));
    // A change that does not alter the answer keeps it held.
    w.feed.wakeAll();
    await vi.waitFor(() => expect(w.feed.subscribers.size).toBe(1));
    w.policies.splice(0, 1);
    const started = performance.now();
    w.feed.wakeAll();
    const answer = await held;
    console.log(
      `grant long poll: revocation answered ${(performance.now() - started).toFixed(1)} ms after the change event`,
    );
    expect(answer.status).toBe(403);
    expect(refusalOf(answer).reason).toBe('no-policy');
    expect(w.counts.get('longPolls')).toBe(0);
    expect(w.feed.subscribers.size).toBe(0);
    expect(w.revocations).toEqual([
      expect.objectContaining({
        subject: expect.objectContaining({ pod: 'agent-1' }),
        refusal: expect.objectContaining({ reason: 'no-policy' }),
        previous: {
          policyRef: { namespace: NS, name: 'analytics' },
          connectionRef: { namespace: NS, name: 'orders' },
        },
      }),
    ]);
    expect(w.logs.at(-1)).toMatchObject({
      event: 'grant-refused',
      fields: { reason: 'no-policy', wait: 'held' },
    });
  });

  it('answers a held long poll with the new grant when the policy changes, and with a fresh one at its deadline', async () => {
    const w = world();
    const { post } = await serve(w);
    const { version } = grantOf(await post());
    const edited = post({ knownVersion: version, waitSeconds: 60 });
    await vi.waitFor(() => expect(w.counts.get('longPolls')).toBe(1));
    w.policies.splice(0, 1, policy('analytics', { access: 'read-write' }));
    w.feed.wakeAll();
    const changed = grantOf(await edited);
    expect(changed.version).not.toBe(version);
    expect(changed.policy.access).toBe('read-write');
    // Unchanged until the deadline: the same version, newly issued.
    const quiet = grantOf(await post({ knownVersion: changed.version, waitSeconds: 1 }));
    expect(quiet.version).toBe(changed.version);
    expect(w.counts.get('seconds held')).toBe(2);
    // A knownVersion that is already stale is answered at once.
    expect(grantOf(await post({ knownVersion: version, waitSeconds: 60 })).version).toBe(changed.version);
  });

  it('lets a sidecar that goes away end its hold, and answers held polls at shutdown', async () => {
    const w = world();
    const { api, post } = await serve(w);
    const { version } = grantOf(await post());
    const abort = new AbortController();
    const dropped = post({ knownVersion: version, waitSeconds: 60 }, TOKEN, { signal: abort.signal });
    await vi.waitFor(() => expect(w.counts.get('longPolls')).toBe(1));
    abort.abort();
    await expect(dropped).rejects.toThrow();
    await vi.waitFor(() => expect(w.counts.get('longPolls')).toBe(0));
    expect(w.feed.subscribers.size).toBe(0);
    const held = post({ knownVersion: version, waitSeconds: 60 });
    await vi.waitFor(() => expect(w.counts.get('longPolls')).toBe(1));
    api.close();
    expect(grantOf(await held).version).toBe(version);
  });

  it('answers an address whose tokens keep failing 429 without asking the API server, until its budget refills', async () => {
    const w = world();
    let now = 0;
    const { post } = await serve(w, { reviewBudget: new TokenReviewBudget(6, 2, () => now) });
    for (let i = 0; i < 2; i++) expect((await post({}, 'forged')).status).toBe(401);
    expect(w.counts.get('reviews')).toBe(2);
    const limited = await post({}, 'forged');
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '10']);
    expect(refusalOf(limited)).toMatchObject({
      reason: 'rate-limited',
      message:
        "127.0.0.1 sent too many tokens the API server did not authenticate; retry in 10s with the pod's current projected token",
    });
    // Nothing reviewed meanwhile, not even a good token from that address.
    expect((await post()).status).toBe(429);
    expect(w.counts.get('reviews')).toBe(2);
    now += 10_000;
    grantOf(await post());
    // Authenticated callers spend nothing: they may keep asking.
    for (let i = 0; i < 5; i++) grantOf(await post());
    expect(w.counts.get('reviews')).toBe(8);
  });

  it('limits each pod’s rate with 429 and Retry-After; held long polls do not count', async () => {
    const w = world();
    w.tokens.set('other-pod', { authenticated: true, audiences: ['pgwarden.io'], pod: 'agent-2', uid: 'u2' });
    w.pods.set(
      'agent-2',
      asInjected({
        metadata: { name: 'agent-2', namespace: NS, uid: 'u2' },
        spec: { serviceAccountName: 'agent', containers: [{ name: 'agent', image: 'agent:1' }] },
      }),
    );
    const { post } = await serve(w, { rateLimit: { perMinute: 1, burst: 2 } });
    const { version } = grantOf(await post());
    expect(grantOf(await post({ knownVersion: version, waitSeconds: 1 })).version).toBe(version);
    grantOf(await post());
    const limited = await post();
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refusalOf(limited)).toMatchObject({ reason: 'rate-limited' });
    expect(refusalOf(limited).message).toMatch(/pod agents\/agent-1 asked for grants too often/);
    // Another pod has its own bucket.
    grantOf(await post({}, 'other-pod'));
    expect(w.counts.get('grants refused rate-limited')).toBe(1);
  });

  it('holds at most two long polls per pod; a third is answered at once', async () => {
    const w = world();
    const { post } = await serve(w);
    const { version } = grantOf(await post());
    const held = [
      post({ knownVersion: version, waitSeconds: 60 }),
      post({ knownVersion: version, waitSeconds: 60 }),
    ];
    await vi.waitFor(() => expect(w.counts.get('longPolls')).toBe(2));
    expect(grantOf(await post({ knownVersion: version, waitSeconds: 60 })).version).toBe(version);
    expect(w.counts.get('longPolls')).toBe(2);
    w.policies.splice(0, 1);
    w.feed.wakeAll();
    for (const answer of await Promise.all(held)) expect(refusalOf(answer).reason).toBe('no-policy');
  });

  it('refuses what is not a GrantRequest and other methods and paths', async () => {
    const w = world();
    const { base, post } = await serve(w);
    expect((await post('{not json')).status).toBe(400);
    const extra = await post({ knownVersion: null, waitSeconds: 61 });
    expect(extra.status).toBe(400);
    expect(extra.body).toMatchObject({ error: expect.stringMatching(/waitSeconds/) });
    expect((await fetch(`${base}/v1/grants`)).status).toBe(405);
    expect((await fetch(`${base}/v1/grants/x`, { method: 'POST' })).status).toBe(404);
    expect(grantOf(await post('')).kind).toBe('Grant');
  });
});
