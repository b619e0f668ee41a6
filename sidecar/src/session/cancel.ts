import { randomInt } from 'node:crypto';
import { encodeCancelRequest } from '../wire/startup.js';
import { type ConnectEndpoint, openTransport } from './upstream.js';

export interface BackendKey {
  pid: number;
  secret: number;
}

/** A backend as a CancelRequest reaches it: its key and the server it runs on. */
export interface UpstreamBackend {
  key: BackendKey;
  endpoint: ConnectEndpoint;
  /** Told of a CancelRequest for the session before it goes upstream: what the proxy itself holds stops waiting. */
  onCancel?: () => void;
}

/**
 * Clients only ever see keys the proxy made up; a CancelRequest is honoured by
 * looking its key up here and sending the upstream's own key to the upstream.
 * A client can therefore neither learn nor guess a real backend's key.
 */
export class CancelRegistry {
  private readonly byKey = new Map<string, UpstreamBackend>();

  issue(upstream: UpstreamBackend): BackendKey {
    for (;;) {
      const key = { pid: randomInt(1, 2 ** 31 - 1), secret: randomInt(0, 2 ** 32 - 1) };
      const id = keyId(key);
      if (!this.byKey.has(id)) {
        this.byKey.set(id, upstream);
        return key;
      }
    }
  }

  release(key: BackendKey): void {
    this.byKey.delete(keyId(key));
  }

  lookup(key: BackendKey): UpstreamBackend | undefined {
    return this.byKey.get(keyId(key));
  }
}

function keyId(key: BackendKey): string {
  return `${key.pid}:${key.secret >>> 0}`;
}

/** Sends a CancelRequest upstream over the same transport (TLS included) the sessions use. */
export async function forwardCancel({ endpoint, key }: UpstreamBackend): Promise<void> {
  const socket = await openTransport(endpoint);
  // The server closes after reading the key; one that does not must not pin the socket forever.
  socket.setTimeout(endpoint.connectTimeoutMs, () => socket.destroy());
  await new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.once('error', () => resolve());
    socket.end(encodeCancelRequest(key.pid, key.secret));
  });
}
