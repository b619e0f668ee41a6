import { randomInt } from 'node:crypto';
import type { UpstreamEndpoint } from '@pgwarden/crds';
import { encodeCancelRequest } from '../wire/startup.js';
import { openTransport } from './upstream.js';

export interface BackendKey {
  pid: number;
  secret: number;
}

/**
 * Clients only ever see keys the proxy made up; a CancelRequest is honoured by
 * looking its key up here and sending the upstream's own key to the upstream.
 * A client can therefore neither learn nor guess a real backend's key.
 */
export class CancelRegistry {
  private readonly byKey = new Map<string, BackendKey>();

  issue(upstreamKey: BackendKey): BackendKey {
    for (;;) {
      const key = { pid: randomInt(1, 2 ** 31 - 1), secret: randomInt(0, 2 ** 32 - 1) };
      const id = keyId(key);
      if (!this.byKey.has(id)) {
        this.byKey.set(id, upstreamKey);
        return key;
      }
    }
  }

  release(key: BackendKey): void {
    this.byKey.delete(keyId(key));
  }

  lookup(key: BackendKey): BackendKey | undefined {
    return this.byKey.get(keyId(key));
  }
}

function keyId(key: BackendKey): string {
  return `${key.pid}:${key.secret >>> 0}`;
}

/** Sends a CancelRequest upstream over the same transport (TLS included) the sessions use. */
export async function forwardCancel(endpoint: UpstreamEndpoint, upstreamKey: BackendKey): Promise<void> {
  const socket = await openTransport(endpoint);
  // The server closes after reading the key; one that does not must not pin the socket forever.
  socket.setTimeout(endpoint.connectTimeoutMs, () => socket.destroy());
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.once('error', () => resolve());
    socket.end(encodeCancelRequest(upstreamKey.pid, upstreamKey.secret));
  });
}
