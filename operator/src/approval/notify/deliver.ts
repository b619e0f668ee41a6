/** How a delivery ended: accepted, refused by the receiver (not retried), or given up after the last attempt. */
export type DeliveryResult = 'delivered' | 'rejected' | 'failed';

export interface DeliveryOutcome {
  result: DeliveryResult;
  attempts: number;
  /** The last HTTP status, or null when the last attempt got no answer. */
  status: number | null;
  /** What went wrong on the last attempt; null when delivered. */
  error: string | null;
}

export interface RetryPolicy {
  maxAttempts: number;
  initialBackoffMs: number;
  timeoutMs: number;
}

const MAX_BACKOFF_MS = 60_000;

/**
 * POSTs one body until the receiver accepts it (2xx), refuses it (another 4xx
 * than 408/429: retrying cannot help) or the attempts run out. Network errors,
 * timeouts, 408, 429 and 5xx are retried after initialBackoff, doubling up to a
 * minute. `headers` is called per attempt, so a signature's timestamp is fresh
 * on each; `accepted` lets a channel read a 200 that means failure (Slack's
 * Web API answers {"ok": false}). Never throws; `signal` ends waiting early
 * (operator shutdown) as a failure.
 */
export async function postWithRetries(
  url: string,
  body: string,
  headers: () => Record<string, string>,
  policy: RetryPolicy,
  signal: AbortSignal,
  accepted: (response: Response, text: string) => string | null = () => null,
): Promise<DeliveryOutcome> {
  let status: number | null = null;
  let error = 'not attempted';
  for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
    if (attempt > 1) {
      const delay = Math.min(policy.initialBackoffMs * 2 ** (attempt - 2), MAX_BACKOFF_MS);
      if (!(await sleep(delay, signal))) return { result: 'failed', attempts: attempt - 1, status, error };
    }
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'pgwarden-operator', ...headers() },
        body,
        redirect: 'error',
        signal: AbortSignal.any([signal, AbortSignal.timeout(policy.timeoutMs)]),
      });
      status = response.status;
      const text = await response.text();
      if (response.ok) {
        const refusal = accepted(response, text);
        if (refusal === null) return { result: 'delivered', attempts: attempt, status, error: null };
        return { result: 'rejected', attempts: attempt, status, error: refusal };
      }
      error = `HTTP ${status}: ${text.slice(0, 200)}`;
      if (status < 500 && status !== 408 && status !== 429) {
        return { result: 'rejected', attempts: attempt, status, error };
      }
    } catch (caught) {
      status = null;
      error = describeFetchError(caught);
      if (signal.aborted) return { result: 'failed', attempts: attempt, status, error };
    }
  }
  return { result: 'failed', attempts: policy.maxAttempts, status, error };
}

function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if ((error as Error).name === 'TimeoutError') return 'timed out';
  return cause?.code ?? cause?.message ?? (error as Error).message ?? String(error);
}

/** False when the signal ended the wait. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
