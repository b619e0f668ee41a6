import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import {
  APPROVAL_API_PATH,
  APPROVAL_MAX_WAIT_SECONDS,
  type ApprovalAsk,
  ApprovalAskSchema,
  ApprovalIdSchema,
  type ApprovalRecord,
  type ApprovalRequest,
  type CompiledApproval,
  coveringApproval,
  currentRecord,
  ExecutionOutcomeSchema,
  ExecutionStartSchema,
  type GrantSubject,
  newApprovalId,
  openRequest,
  rowsOfCommandTag,
} from '@pgwarden/crds';
import type { z } from 'zod';
import { bodyIssues, readJson, sendJson } from '../grant/json-http.js';
import {
  authenticatePod,
  bearerToken,
  type PodIdentityApi,
  subjectFields,
  type TokenReviewBudget,
} from '../grant/pod-identity.js';
import type { Log } from '../reconcile/loop.js';
import { ApprovalConflict, type ApprovalObjects } from './approval-objects.js';
import { toRecord } from './query-approval.js';

/** An ask carries one statement with its parameters; anything bigger is not one. */
const MAX_BODY_BYTES = 1024 * 1024;

export interface ApprovalApiOptions {
  identity: PodIdentityApi;
  /** Bounds the TokenReviews of callers whose tokens fail; shared with the grant API. */
  reviewBudget: TokenReviewBudget;
  objects: ApprovalObjects;
  /** spec.approval of the named policy in the pod's namespace, compiled, if it binds the pod; a string says why there is none. */
  settings(namespace: string, policy: string, pod: V1Pod): Promise<CompiledApproval | string>;
  /** The audit log: one event per request, execution and withdrawal. */
  log: Log;
  /** Counts each call by name and answered HTTP status. */
  calls?: { inc(labels: { call: string; status: string }): void };
  now?: () => number;
}

type Reply = { status: number; body?: unknown };

/** The calls by route, for the metric. */
const CALLS: Record<string, string> = {
  'POST ': 'ask',
  'GET :name': 'wait',
  'DELETE :name': 'withdraw',
  'POST :name/executions': 'start',
  'PUT :name/executions/:index': 'finish',
};

/**
 * The sidecar-facing approval API (contract in crds/src/approval-api.ts), on
 * every replica: a held statement becomes a QueryApproval in the pod's
 * namespace, a sidecar long-polls it for the decision, claims a run of the
 * approved statement (atomically: a single-use approval runs once), reports its
 * outcome, or withdraws the request when its client gave up. The caller is the
 * pod its projected token is bound to; it reaches only its own namespace.
 */
export class ApprovalApi {
  readonly #o: ApprovalApiOptions;
  readonly #closing = new AbortController();

  constructor(options: ApprovalApiOptions) {
    this.#o = options;
  }

  readonly handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://operator');
    const parts = url.pathname.slice(APPROVAL_API_PATH.length).split('/').filter(Boolean);
    const token = bearerToken(req.headers.authorization);
    const identity = token
      ? await authenticatePod(this.#o.identity, token, {
          remote: req.socket.remoteAddress ?? '',
          budget: this.#o.reviewBudget,
        })
      : {
          ok: false as const,
          status: 401,
          refusal: { message: 'no bearer token; send the pod’s projected token' },
        };
    const [name, sub, index] = parts;
    const route = `${req.method} ${[name && ':name', sub, index && ':index'].filter(Boolean).join('/')}`;
    const answer = (reply: Reply) => {
      sendJson(res, reply.status, reply.body);
      this.#o.calls?.inc({ call: CALLS[route] ?? 'unknown', status: String(reply.status) });
    };
    if (!identity.ok) return answer({ status: identity.status, body: { error: identity.refusal.message } });
    const { subject } = identity;
    let reply: Reply;
    try {
      if (name !== undefined && !ApprovalIdSchema.safeParse(name).success) {
        throw new BadRequest(`${JSON.stringify(name)} is not an approval name (apr- and letters or digits)`);
      }
      switch (route) {
        case 'POST ':
          reply = await this.#ask(subject, identity.pod, await readBody(req, ApprovalAskSchema));
          break;
        case 'GET :name':
          reply = await this.#wait(
            subject,
            name as string,
            Number(url.searchParams.get('waitSeconds') ?? 0),
            res,
          );
          break;
        case 'DELETE :name':
          reply = await this.#withdraw(subject, name as string);
          break;
        case 'POST :name/executions':
          reply = await this.#start(subject, name as string, await readBody(req, ExecutionStartSchema));
          break;
        case 'PUT :name/executions/:index':
          reply = await this.#finish(
            subject,
            name as string,
            Number(index),
            await readBody(req, ExecutionOutcomeSchema),
          );
          break;
        default:
          reply = {
            status: 404,
            body: { error: `no such approval API call: ${req.method} ${url.pathname}` },
          };
      }
    } catch (error) {
      if (error instanceof ApprovalConflict || error instanceof BadRequest) {
        reply = { status: error.status, body: { error: error.message } };
      } else {
        this.#o.log('approval-api-failed', { ...subjectFields(subject), error: String(error) });
        reply = {
          status: 503,
          body: { error: `the operator could not reach the API server; retry shortly` },
        };
      }
    }
    answer(reply);
  };

  /** Answers every held long poll now, for shutdown. */
  close(): void {
    this.#closing.abort();
  }

  async #ask(subject: GrantSubject, pod: V1Pod, ask: ApprovalAsk): Promise<Reply> {
    const settings = await this.#o.settings(subject.namespace, ask.policy.name, pod);
    if (typeof settings === 'string') {
      this.#o.log('approval-refused', {
        ...subjectFields(subject),
        policy: ask.policy.name,
        reason: settings,
      });
      return { status: 403, body: { error: settings } };
    }
    const now = this.#now();
    const known = (await this.#o.objects.withFingerprint(subject.namespace, ask.statement.fingerprint)).map(
      (o) => currentRecord(toRecord(o), now),
    );
    const covering = coveringApproval(known, ask.statement, ask.session, ask.policy.hash, now);
    if (covering) return { status: 200, body: covering };
    const request = requestFor(subject, ask, settings, now);
    const open = openRequest(known, request, now);
    if (open) return { status: 200, body: open };
    const record = await this.#o.objects.create(
      subject.namespace,
      newApprovalId(now, randomBytes(4)),
      request,
    );
    this.#o.log('approval-requested', {
      ...subjectFields(subject),
      approval: record.id,
      policy: ask.policy.name,
      rule: ask.policy.rule,
      fingerprint: ask.statement.fingerprint,
      expiresAt: request.expiresAt,
    });
    return { status: 201, body: record };
  }

  async #wait(subject: GrantSubject, name: string, waitSeconds: number, res: ServerResponse): Promise<Reply> {
    if (!Number.isFinite(waitSeconds) || waitSeconds < 0)
      throw new BadRequest('waitSeconds is not a number of seconds');
    const gone = new AbortController();
    const stop = () => gone.abort();
    res.once('close', stop);
    this.#closing.signal.addEventListener('abort', stop, { once: true });
    try {
      return await this.#waitUntil(subject, name, waitSeconds, gone.signal);
    } finally {
      this.#closing.signal.removeEventListener('abort', stop);
    }
  }

  async #waitUntil(
    subject: GrantSubject,
    name: string,
    waitSeconds: number,
    gone: AbortSignal,
  ): Promise<Reply> {
    const decided = (record: ApprovalRecord) => currentRecord(record, this.#now()).status.phase !== 'Pending';
    const first = await this.#o.objects.get(subject.namespace, name);
    if (!first)
      throw new ApprovalConflict(404, `no approval request ${name} in namespace ${subject.namespace}`);
    // Past expiresAt a pending request counts as expired: no need to wait beyond it.
    const untilExpiry = Date.parse(first.spec.expiresAt) - this.#now();
    const ms = Math.max(0, Math.min(Math.min(waitSeconds, APPROVAL_MAX_WAIT_SECONDS) * 1000, untilExpiry));
    const object = await this.#o.objects.waitFor(
      subject.namespace,
      name,
      ms,
      (o) => decided(toRecord(o)),
      gone,
    );
    if (!object) throw new ApprovalConflict(404, `approval request ${name} was withdrawn`);
    return { status: 200, body: currentRecord(toRecord(object), this.#now()) };
  }

  async #start(subject: GrantSubject, name: string, start: { session: string }): Promise<Reply> {
    let execution = -1;
    const record = await this.#o.objects.update(subject.namespace, name, (stored) => {
      const { request, status } = currentRecord(stored, this.#now());
      const reusable = request.scope.type !== 'once' && status.phase === 'Executed';
      if (status.phase !== 'Approved' && !reusable) {
        throw new ApprovalConflict(
          409,
          request.scope.type === 'once' && status.phase === 'Executed'
            ? `approval ${name} was already used to run the statement once`
            : `approval ${name} is ${status.phase}; it does not let the statement run`,
        );
      }
      if (status.validUntil !== null && Date.parse(status.validUntil) <= this.#now()) {
        throw new ApprovalConflict(409, `approval ${name} lapsed at ${status.validUntil}`);
      }
      const at = new Date(this.#now()).toISOString();
      const executions = [
        ...status.executions,
        { at, session: start.session, commandTag: null, rows: null, error: null },
      ];
      execution = executions.length - 1;
      return { ...status, phase: 'Executed', executions };
    });
    this.#o.log('approval-execution-started', {
      ...subjectFields(subject),
      approval: name,
      execution,
      session: start.session,
    });
    return { status: 200, body: { record, execution } };
  }

  async #finish(
    subject: GrantSubject,
    name: string,
    index: number,
    outcome: z.output<typeof ExecutionOutcomeSchema>,
  ): Promise<Reply> {
    await this.#o.objects.update(subject.namespace, name, ({ status }) => {
      const execution = status.executions[index];
      if (!execution) throw new ApprovalConflict(404, `approval ${name} has no execution ${index}`);
      const executions = [...status.executions];
      executions[index] = { ...execution, ...outcome, rows: rowsOfCommandTag(outcome.commandTag) };
      return { ...status, executions };
    });
    this.#o.log('approval-execution-finished', {
      ...subjectFields(subject),
      approval: name,
      execution: index,
      commandTag: outcome.commandTag,
      failed: outcome.error !== null,
    });
    return { status: 204 };
  }

  async #withdraw(subject: GrantSubject, name: string): Promise<Reply> {
    for (let attempt = 1; attempt <= 5; attempt++) {
      const object = await this.#o.objects.get(subject.namespace, name);
      if (!object) return { status: 204 };
      const { status } = toRecord(object);
      if (status.phase !== 'Pending') {
        return {
          status: 409,
          body: { error: `${name} is ${status.phase}; only a pending request is withdrawn` },
        };
      }
      if (await this.#o.objects.remove(subject.namespace, name, object.metadata.resourceVersion)) {
        this.#o.log('approval-withdrawn', { ...subjectFields(subject), approval: name });
        return { status: 204 };
      }
    }
    throw new ApprovalConflict(409, `${name} kept changing; not withdrawn`);
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }
}

/** The request for a held statement: the requester from the token, the settings from the policy. */
function requestFor(
  subject: GrantSubject,
  ask: ApprovalAsk,
  settings: CompiledApproval,
  now: number,
): ApprovalRequest {
  return {
    statement: ask.statement,
    requester: {
      clientAddress: ask.clientAddress,
      clientUser: ask.clientUser,
      session: ask.session,
      namespace: subject.namespace,
      pod: subject.pod,
      serviceAccount: subject.serviceAccount,
    },
    policy: ask.policy,
    approvers: { users: [...settings.approvers.users], groups: [...settings.approvers.groups] },
    requiredApprovals: settings.requiredApprovals,
    scope: { ...settings.scope },
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(now + settings.timeoutMs).toISOString(),
  };
}

class BadRequest extends Error {
  readonly status = 400;
}

async function readBody<T extends z.ZodType>(req: IncomingMessage, schema: T): Promise<z.output<T>> {
  const body = await readJson(req, MAX_BODY_BYTES);
  if (!body.ok) throw new BadRequest(body.error);
  const parsed = schema.safeParse(body.json);
  if (!parsed.success) throw new BadRequest(bodyIssues(parsed.error));
  return parsed.data;
}
