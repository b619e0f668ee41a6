import type { Informer, KubernetesObject } from '@kubernetes/client-node';

/**
 * Keeps an informer running. client-node's ListWatch relists after 410 Gone
 * and reconnects after a watch ends normally, but after any other error (the
 * API server restarting, 429 "storage is (re)initializing" right after a CRD
 * is created, a reset connection) it stops for good; this restarts it with
 * exponential backoff, reset by a successful (re)connect.
 */
export function keepWatching<T extends KubernetesObject>(
  informer: Informer<T>,
  onError: (error: unknown, retryInMs: number) => void,
  { initialMs = 200, maxMs = 30_000 } = {},
): { stop(): Promise<void> } {
  let delayMs = initialMs;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  informer.on('connect', () => {
    delayMs = initialMs;
  });
  informer.on('error', (error) => {
    if (stopped) return;
    onError(error, delayMs);
    timer = setTimeout(() => {
      if (!stopped) void informer.start().catch(() => undefined);
    }, delayMs);
    delayMs = Math.min(delayMs * 2, maxMs);
  });
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await informer.stop();
    },
  };
}
