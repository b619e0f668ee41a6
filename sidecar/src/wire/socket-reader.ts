import type { Socket } from 'node:net';
import { ProtocolViolation } from './reader.js';

/**
 * Pull-style reads for the handshake phase, where each step waits for one
 * packet. After the handshake, detach() hands back any bytes already received
 * so the push-style framer continues exactly where this left off.
 */
export class SocketReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiter: (() => void) | null = null;
  private failure: Error | null = null;
  private readonly onData = (chunk: Buffer) => {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.wake();
  };
  private readonly onEnd = () => this.fail(new ConnectionClosed('connection closed by peer'));
  private readonly onError = (err: Error) => this.fail(err);

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  /** Resolves with exactly n bytes. */
  async read(n: number): Promise<Buffer> {
    while (this.buffered < n) {
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }

  /** Reads one tagged message (code + length + body), bounded by maxLength. */
  async readMessage(maxLength: number): Promise<{ code: number; message: Buffer }> {
    const header = await this.read(5);
    const length = header.readUInt32BE(1);
    if (length < 4 || length > maxLength) throw new ProtocolViolation(`invalid message length ${length}`);
    const body = await this.read(length - 4);
    return { code: header[0] as number, message: Buffer.concat([header, body]) };
  }

  /** Stops listening and returns bytes received but not yet read. */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    const rest = Buffer.concat(this.chunks);
    this.chunks = [];
    this.buffered = 0;
    return rest;
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
}

export class ConnectionClosed extends Error {
  override name = 'ConnectionClosed';
}
