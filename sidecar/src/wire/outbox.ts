import type { Socket } from 'node:net';
import type { ByteSink } from './framer.js';

/**
 * Collects the buffers produced while one inbound chunk is processed and writes
 * them with a single corked batch, so a chunk costs one writev, not one
 * syscall per message.
 */
export class Outbox implements ByteSink {
  private parts: Buffer[] = [];

  constructor(private readonly socket: Socket) {}

  push(bytes: Buffer): void {
    this.parts.push(bytes);
  }

  /** Writes what was collected; returns false when the socket asks the caller to wait for 'drain'. */
  flush(): boolean {
    const parts = this.parts;
    if (parts.length === 0) return true;
    this.parts = [];
    if (this.socket.destroyed) return true;
    if (parts.length === 1) return this.socket.write(parts[0] as Buffer);
    this.socket.cork();
    let ok = true;
    for (const p of parts) ok = this.socket.write(p);
    this.socket.uncork();
    return ok;
  }
}
