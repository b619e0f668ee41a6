/**
 * Reads protocol fields from a message body. One instance is reused per
 * connection: reset() points it at the next message without allocating.
 */
export class MessageReader {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private end = 0;

  reset(buf: Buffer, start: number, end: number): this {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    return this;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  byte(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** A NUL-terminated string; throws when the terminator is missing. */
  cstring(): string {
    const nul = this.buf.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) throw new ProtocolViolation('string field is not NUL-terminated');
    const s = this.buf.toString('utf8', this.pos, nul);
    this.pos = nul + 1;
    return s;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  rest(): Buffer {
    return this.bytes(this.remaining);
  }

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw new ProtocolViolation('message is shorter than its fields');
  }
}

/** The peer broke the wire protocol; the connection cannot continue. */
export class ProtocolViolation extends Error {
  override name = 'ProtocolViolation';
}
