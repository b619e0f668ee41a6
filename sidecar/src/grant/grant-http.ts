import { readFile } from 'node:fs/promises';
import {
  type Grant,
  type GrantRefusal,
  GrantRefusalSchema,
  type GrantRequest,
  GrantSchema,
} from '@pgwarden/crds';
import type { ZodError } from 'zod';
import { AnswerTooLarge, requestOperator } from './operator-request.js';

/** Grant answers are a compiled policy and a few fields; anything far bigger is not one. */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;
/** On top of the long poll's hold: how long the operator may take to answer. */
const ANSWER_MARGIN_MS = 15_000;

/** One answer of the grant API, parsed with the crds schemas. */
export type GrantAnswer =
  | { kind: 'grant'; grant: Grant }
  | { kind: 'refused'; status: number; refusal: GrantRefusal; retryAfterSeconds: number | null };

/** The request did not produce an answer the sidecar can act on (network, TLS, token file, malformed body). */
export class GrantRequestFailed extends Error {
  constructor(
    readonly kind: 'token' | 'network' | 'invalid-answer',
    message: string,
  ) {
    super(message);
  }
}

export interface GrantEndpoint {
  url: URL;
  /** The only CA trusted for the operator's certificate. */
  caPem: string;
  tokenFile: string;
}

/**
 * POSTs a GrantRequest with the projected token, read from its file for this
 * request (the kubelet rotates it), and parses the answer. Never logs or
 * returns the token.
 */
export async function requestGrant(
  endpoint: GrantEndpoint,
  body: GrantRequest,
  signal: AbortSignal,
): Promise<GrantAnswer> {
  const token = await readToken(endpoint.tokenFile);
  const payload = JSON.stringify(body);
  const { status, text, retryAfter } = await requestOperator({
    method: 'POST',
    url: endpoint.url,
    caPem: endpoint.caPem,
    token,
    payload,
    timeoutMs: body.waitSeconds * 1000 + ANSWER_MARGIN_MS,
    maxAnswerBytes: MAX_ANSWER_BYTES,
    signal,
  }).catch((err: Error) => {
    throw networkFailure(err);
  });
  return parseAnswer(status, text, retryAfter);
}

/** The projected token, read from its file for each request (the kubelet rotates it). */
export async function readToken(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new GrantRequestFailed(
      'token',
      `cannot read the token file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  const token = text.trim();
  if (token === '') throw new GrantRequestFailed('token', `the token file ${path} is empty`);
  return token;
}

function networkFailure(err: Error): Error {
  if (err.name === 'AbortError') return err;
  if (err instanceof AnswerTooLarge) return new GrantRequestFailed('invalid-answer', err.message);
  const code = (err as NodeJS.ErrnoException).code;
  return new GrantRequestFailed('network', code ? `${code}: ${err.message}` : err.message);
}

function parseAnswer(status: number, text: string, retryAfter: string | undefined): GrantAnswer {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new GrantRequestFailed('invalid-answer', `HTTP ${status} with a body that is not JSON`);
  }
  if (status === 200) {
    const grant = GrantSchema.safeParse(json);
    if (!grant.success) {
      throw new GrantRequestFailed(
        'invalid-answer',
        `the answer is not a valid grant: ${issues(grant.error)}`,
      );
    }
    return { kind: 'grant', grant: grant.data };
  }
  const refusal = GrantRefusalSchema.safeParse(json);
  if (!refusal.success) {
    throw new GrantRequestFailed(
      'invalid-answer',
      `HTTP ${status} with a body that is not a grant refusal: ${issues(refusal.error)}`,
    );
  }
  const header = retryAfter !== undefined && /^\d+$/.test(retryAfter) ? Number(retryAfter) : null;
  return {
    kind: 'refused',
    status,
    refusal: refusal.data,
    retryAfterSeconds: header ?? refusal.data.retryAfterSeconds,
  };
}

function issues(error: ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}
