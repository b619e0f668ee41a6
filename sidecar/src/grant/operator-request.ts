import { request } from 'node:https';

/** The answer outgrew the caller's bound: not an answer the operator gives. */
export class AnswerTooLarge extends Error {
  override name = 'AnswerTooLarge';
}

export interface OperatorRequest {
  method: string;
  url: URL;
  /** The only CA trusted for the operator's certificate. */
  caPem: string;
  /** The pod's projected token. */
  token: string;
  /** A JSON body, or none. */
  payload?: string | undefined;
  /** No answer by then: the request fails. */
  timeoutMs: number;
  maxAnswerBytes: number;
  signal?: AbortSignal | undefined;
}

/**
 * One HTTPS exchange with the operator's sidecar-facing APIs (grants,
 * approvals): bearer token, JSON both ways, a bounded answer. Rejects with
 * AnswerTooLarge, an AbortError, or the network error as Node reports it; the
 * callers turn those into their own failures.
 */
export function requestOperator(
  r: OperatorRequest,
): Promise<{ status: number; text: string; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(
      r.url,
      {
        method: r.method,
        ca: r.caPem,
        signal: r.signal,
        timeout: r.timeoutMs,
        headers: {
          authorization: `Bearer ${r.token}`,
          accept: 'application/json',
          ...(r.payload !== undefined && {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(r.payload),
          }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > r.maxAnswerBytes) {
            req.destroy(new AnswerTooLarge(`the answer exceeds ${r.maxAnswerBytes} bytes`));
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
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${r.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(r.payload);
  });
}
