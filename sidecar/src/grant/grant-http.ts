import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import {
  type Grant,
  type GrantRefusal,
  GrantRefusalSchema,
  type GrantRequest,
  GrantSchema,
} from '@pgwarden/crds';
import type { ZodError } from 'zod';

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
  const { status, text, retryAfter } = await post(endpoint, token, payload, body.waitSeconds, signal);
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

function post(
  endpoint: GrantEndpoint,
  token: string,
  payload: string,
  waitSeconds: number,
  signal: AbortSignal,
): Promise<{ status: number; text: string; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(
      endpoint.url,
      {
        method: 'POST',
        ca: endpoint.caPem,
        signal,
        timeout: waitSeconds * 1000 + ANSWER_MARGIN_MS,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          accept: 'application/json',
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            req.destroy(
              new GrantRequestFailed('invalid-answer', `the answer exceeds ${MAX_ANSWER_BYTES} bytes`),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            retryAfter: res.headers['retry-after'],
          }),
        );
        res.on('error', (err) => reject(networkFailure(err)));
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error(`no answer within ${waitSeconds * 1000 + ANSWER_MARGIN_MS} ms`)),
    );
    req.on('error', (err) => reject(networkFailure(err)));
    req.end(payload);
  });
}

function networkFailure(err: Error): Error {
  if (err instanceof GrantRequestFailed || err.name === 'AbortError') return err;
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
