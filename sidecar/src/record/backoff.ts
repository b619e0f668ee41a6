import { setTimeout as sleep } from 'node:timers/promises';

export interface BackoffOptions {
  /** Delay cap of the first retry. */
  baseMs: number;
  /** Largest delay cap, reached after a few failures. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = Object.freeze({ baseMs: 200, maxMs: 30_000 });

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(max, base·2^attempt)).
 * Jitter keeps many sidecars that lost the same store from retrying in step.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random = Math.random): number {
  const cap = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}

/** Waits, unless the signal aborts first; never rejects. */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal, ref: false });
  } catch {
    // aborted: the caller checks why
  }
}
