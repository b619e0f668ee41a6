import { setTimeout as sleep } from 'node:timers/promises';
import {
  APPROVAL_API_PATH,
  APPROVAL_MAX_WAIT_SECONDS,
  ApprovalApiErrorSchema,
  type ApprovalAsk,
  type ApprovalRecord,
  ApprovalRecordSchema,
  type ApprovalRequest,
  type ExecutionOutcome,
  ExecutionStartedSchema,
} from '@pgwarden/crds';
import type { z } from 'zod';
import { readToken } from '../grant/grant-http.js';
import { AnswerTooLarge, requestOperator } from '../grant/operator-request.js';
import type { Logger } from '../observe/log.js';
import { type ApprovalService, ApprovalUsed } from './approval-service.js';

/** Answers are one approval record; anything far bigger is not one. */
const MAX_ANSWER_BYTES = 1024 * 1024;
/** How long an ask is repeated while the operator does not answer (a restart, a replica going away). */
const ASK_RETRY_MS = 10_000;
/** A long poll answered faster than this while still pending is followed by this pause; also between retries. */
const EARLY_ANSWER_PAUSE_MS = 250;
/** On top of a long poll's hold: how long the operator may take to answer. */
const ANSWER_MARGIN_MS = 15_000;

export interface OperatorEndpoint {
  /** The operator's HTTPS origin (the grant URL's). */
  origin: URL;
  /** The only CA trusted for the operator's certificate. */
  caPem: string;
  /** The projected service-account token, read again for each request. */
  tokenFile: string;
}

/** The operator answered with an error (its message names the cause), or not at all. */
export class ApprovalApiFailed extends Error {
  constructor(
    readonly status: number | null,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The approval service of a sidecar in Kubernetes: the operator's approval
 * API (crds/src/approval-api.ts), which keeps each request as a QueryApproval
 * in the pod's namespace. Authenticated with the pod's projected token over
 * HTTPS with the operator's CA, as the grant API. The operator looks for an
 * approval that covers a statement when it is asked, so covering() here is
 * always null; a run is claimed from the operator, which refuses a second run
 * of a single-use approval whatever sidecar asks.
 */
export class RemoteApprovals implements ApprovalService {
  constructor(
    private readonly endpoint: OperatorEndpoint,
    private readonly log: Logger,
  ) {}

  covering(): null {
    return null;
  }

  async request(request: ApprovalRequest): Promise<ApprovalRecord> {
    const { statement, requester, policy } = request;
    const ask: ApprovalAsk = {
      statement,
      policy,
      session: requester.session,
      clientAddress: requester.clientAddress,
      clientUser: requester.clientUser,
    };
    // Asking again is safe: the operator answers with the request it already made for this statement.
    const giveUpAt = performance.now() + ASK_RETRY_MS;
    let record: ApprovalRecord;
    for (;;) {
      try {
        record = await this.call('POST', '', ask, ApprovalRecordSchema);
        break;
      } catch (err) {
        if (!transient(err) || performance.now() >= giveUpAt) throw err;
        this.log.warn({ err: (err as Error).message }, 'approval request interrupted; asking again');
        await sleep(EARLY_ANSWER_PAUSE_MS);
      }
    }
    this.log.info(
      { approval: record.id, phase: record.status.phase },
      'approval requested from the operator',
    );
    return record;
  }

  /**
   * Long polls of at most APPROVAL_MAX_WAIT_SECONDS each until the request is
   * decided or `limitMs` passed. An operator that is restarting (no answer, or
   * 503) is asked again until the limit: the request is kept in the API server,
   * not in the replica that was asked.
   */
  async wait(id: string, limitMs: number): Promise<ApprovalRecord> {
    const deadline = performance.now() + limitMs;
    let last: ApprovalRecord | null = null;
    for (;;) {
      // Milliseconds matter: a 2.5s limit waits 2.5s, not 3.
      const remaining = Math.max(0, (deadline - performance.now()) / 1000);
      const waitSeconds = Number(Math.min(remaining, APPROVAL_MAX_WAIT_SECONDS).toFixed(3));
      const asked = performance.now();
      try {
        last = await this.call(
          'GET',
          `/${id}?waitSeconds=${waitSeconds}`,
          undefined,
          ApprovalRecordSchema,
          waitSeconds,
        );
      } catch (err) {
        if (!transient(err) || (last === null && performance.now() >= deadline - 50)) throw err;
        this.log.warn(
          { approval: id, err: (err as Error).message },
          'approval wait interrupted; asking again',
        );
      }
      const over = performance.now() >= deadline - 50;
      if (last !== null && (last.status.phase !== 'Pending' || over)) return last;
      // Answered early while still pending (the operator's watch ended, or it is restarting): not in a tight loop.
      if (performance.now() - asked < EARLY_ANSWER_PAUSE_MS) await sleep(EARLY_ANSWER_PAUSE_MS);
    }
  }

  async use(id: string, session: string): Promise<number> {
    try {
      const { execution } = await this.call('POST', `/${id}/executions`, { session }, ExecutionStartedSchema);
      return execution;
    } catch (err) {
      if (err instanceof ApprovalApiFailed && err.status === 409) throw new ApprovalUsed(err.message);
      throw err;
    }
  }

  /** The run's command tag or error, recorded on the QueryApproval; a failure is logged, the session goes on. */
  finished(id: string, index: number, outcome: ExecutionOutcome): void {
    this.call('PUT', `/${id}/executions/${index}`, outcome, null).catch((err: unknown) =>
      this.log.warn(
        { approval: id, execution: index, err: (err as Error).message },
        'approval run outcome not recorded',
      ),
    );
  }

  /** The client gave up waiting: the pending request goes from the queue. */
  withdraw(id: string): void {
    this.call('DELETE', `/${id}`, undefined, null).catch((err: unknown) =>
      this.log.warn({ approval: id, err: (err as Error).message }, 'approval request not withdrawn'),
    );
  }

  private async call<T extends z.ZodType | null>(
    method: string,
    path: string,
    body: unknown,
    schema: T,
    waitSeconds = 0,
  ): Promise<T extends z.ZodType ? z.output<T> : undefined> {
    const token = await readToken(this.endpoint.tokenFile);
    const url = new URL(`${APPROVAL_API_PATH}${path}`, this.endpoint.origin);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const timeoutMs = waitSeconds * 1000 + ANSWER_MARGIN_MS;
    const { status, text } = await requestOperator({
      method,
      url,
      caPem: this.endpoint.caPem,
      token,
      payload,
      timeoutMs,
      maxAnswerBytes: MAX_ANSWER_BYTES,
    }).catch((err: NodeJS.ErrnoException) => {
      throw new ApprovalApiFailed(
        null,
        err instanceof AnswerTooLarge
          ? `the approval API's answer exceeds ${MAX_ANSWER_BYTES} bytes`
          : `the operator's approval API is unreachable (${err.code ?? err.message})`,
      );
    });
    if (status >= 400) {
      const error = ApprovalApiErrorSchema.safeParse(parseJson(text));
      throw new ApprovalApiFailed(
        status,
        error.success ? error.data.error : `the approval API answered HTTP ${status}`,
      );
    }
    if (schema === null) return undefined as never;
    const parsed = schema.safeParse(parseJson(text));
    if (!parsed.success)
      throw new ApprovalApiFailed(
        status,
        `the approval API answered ${method} ${path || '/'} with something else than expected`,
      );
    return parsed.data as never;
  }
}

/** No answer, or the operator could not reach the API server: another try (or replica) may succeed. */
function transient(err: unknown): boolean {
  return err instanceof ApprovalApiFailed && (err.status === null || err.status === 503);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
