import { connect } from 'node:net';

/** A session's BackendKeyData as node-postgres keeps it. */
export interface SessionKey {
  processID: number;
  secretKey: number;
}

/**
 * A CancelRequest for the session `key` identifies, sent to the server at
 * `url` (postgresql://host:port/…) the way psql sends one on Ctrl-C: a new
 * connection carrying only the key. node-postgres has no call for it.
 */
export async function sendCancelRequest(url: string, key: SessionKey): Promise<void> {
  const { hostname, port } = new URL(url);
  const message = Buffer.alloc(16);
  message.writeInt32BE(16, 0);
  message.writeInt32BE(80877102, 4); // the CancelRequest code
  message.writeInt32BE(key.processID, 8);
  message.writeUInt32BE(key.secretKey >>> 0, 12);
  await new Promise<void>((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(message));
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}
