import { ProtocolViolation } from './reader.js';

const HEADER = 5;

/** Returned by FrameVisitor.onMessage to drop a message. */
export const DROP: Buffer = Buffer.alloc(0);

/** Decides, per message, what the framer does with it. */
export interface FrameVisitor {
  /**
   * Sees every header as soon as its 5 bytes arrive. Throws ProtocolViolation
   * to reject the message (unknown code, oversize). Returns true when the stage
   * needs the whole message before deciding; false streams it through as raw
   * bytes without buffering (CopyData, DataRow when nothing inspects rows).
   */
  onHeader(code: number, length: number): boolean;
  /**
   * A whole message buf[start, end), header included. Returns undefined to
   * forward it unchanged, or the bytes to send in its place (DROP for none).
   */
  onMessage(code: number, buf: Buffer, start: number, end: number): Buffer | undefined;
}

/** Receives the bytes the framer forwards, in stream order. */
export interface ByteSink {
  push(bytes: Buffer): void;
}

/**
 * Splits a protocol-v3 byte stream into messages without copying: runs of
 * forwarded messages inside one chunk leave as a single subarray of that chunk.
 * Only a message that must be seen whole and straddles chunks is copied, once,
 * into a buffer of its exact size.
 */
export class MessageFramer {
  private readonly header = Buffer.alloc(HEADER);
  private headerFill = 0;
  /** Bytes still to stream through for a message the visitor did not want whole. */
  private streamRemaining = 0;
  /** A wanted message spanning chunks, collected into its final buffer. */
  private partial: Buffer | null = null;
  private partialFill = 0;

  constructor(
    private readonly visitor: FrameVisitor,
    private readonly out: ByteSink,
  ) {}

  /** True when no message is half-received. */
  get idle(): boolean {
    return this.headerFill === 0 && this.streamRemaining === 0 && this.partial === null;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    const len = chunk.length;
    // Start of a run of bytes to forward from this chunk as one subarray.
    let runStart = 0;

    if (this.streamRemaining > 0) {
      const n = Math.min(this.streamRemaining, len);
      this.streamRemaining -= n;
      pos = n;
    } else if (this.partial !== null) {
      pos = this.fillPartial(chunk, 0);
      runStart = pos;
    } else if (this.headerFill > 0) {
      pos = this.completeHeader(chunk);
      runStart = pos;
    }

    while (pos < len && this.partial === null && this.headerFill === 0 && this.streamRemaining === 0) {
      if (len - pos < HEADER) {
        this.flushRun(chunk, runStart, pos);
        chunk.copy(this.header, 0, pos, len);
        this.headerFill = len - pos;
        return;
      }
      const code = chunk[pos] as number;
      const length = chunk.readUInt32BE(pos + 1);
      checkLength(length);
      const end = pos + 1 + length;
      if (!this.visitor.onHeader(code, length)) {
        if (end > len) {
          this.streamRemaining = end - len;
          pos = len;
        } else {
          pos = end;
        }
        continue;
      }
      if (end > len) {
        this.flushRun(chunk, runStart, pos);
        this.partial = Buffer.allocUnsafe(1 + length);
        chunk.copy(this.partial, 0, pos, len);
        this.partialFill = len - pos;
        return;
      }
      const replacement = this.visitor.onMessage(code, chunk, pos, end);
      if (replacement !== undefined) {
        this.flushRun(chunk, runStart, pos);
        if (replacement.length > 0) this.out.push(replacement);
        runStart = end;
      }
      pos = end;
    }
    this.flushRun(chunk, runStart, pos);
  }

  /** Completes a header split across chunks; returns the chunk offset after it is consumed. */
  private completeHeader(chunk: Buffer): number {
    const take = Math.min(HEADER - this.headerFill, chunk.length);
    chunk.copy(this.header, this.headerFill, 0, take);
    this.headerFill += take;
    if (this.headerFill < HEADER) return take;
    this.headerFill = 0;
    const code = this.header[0] as number;
    const length = this.header.readUInt32BE(1);
    checkLength(length);
    if (!this.visitor.onHeader(code, length)) {
      this.out.push(Buffer.from(this.header));
      const body = length - 4;
      const n = Math.min(body, chunk.length - take);
      this.streamRemaining = body - n;
      // The streamed body bytes stay in the chunk and leave with the run.
      if (n > 0) this.out.push(chunk.subarray(take, take + n));
      return take + n;
    }
    this.partial = Buffer.allocUnsafe(1 + length);
    this.header.copy(this.partial, 0, 0, HEADER);
    this.partialFill = HEADER;
    return this.fillPartial(chunk, take);
  }

  private fillPartial(chunk: Buffer, from: number): number {
    const partial = this.partial as Buffer;
    const n = Math.min(partial.length - this.partialFill, chunk.length - from);
    chunk.copy(partial, this.partialFill, from, from + n);
    this.partialFill += n;
    if (this.partialFill < partial.length) return from + n;
    this.partial = null;
    const replacement = this.visitor.onMessage(partial[0] as number, partial, 0, partial.length);
    const out = replacement ?? partial;
    if (out.length > 0) this.out.push(out);
    return from + n;
  }

  private flushRun(chunk: Buffer, start: number, end: number): void {
    if (end > start) this.out.push(start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end));
  }
}

function checkLength(length: number): void {
  if (length < 4) throw new ProtocolViolation(`invalid message length ${length}`);
}
