/**
 * Builds one protocol message. The 5-byte header is reserved up front and the
 * length filled in last, so fields are written once with no intermediate copies.
 */
export class MessageWriter {
  private buf: Buffer;
  private pos: number;
  private readonly headerSize: number;

  /** code: the message type byte, or null for untagged startup-phase packets. */
  constructor(
    private readonly code: number | null,
    initialSize = 64,
  ) {
    this.headerSize = code === null ? 4 : 5;
    this.buf = Buffer.allocUnsafe(Math.max(initialSize, this.headerSize));
    this.pos = this.headerSize;
  }

  byte(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  int16(v: number): this {
    this.ensure(2);
    this.pos = this.buf.writeInt16BE(v, this.pos);
    return this;
  }

  int32(v: number): this {
    this.ensure(4);
    this.pos = this.buf.writeInt32BE(v, this.pos);
    return this;
  }

  cstring(s: string): this {
    const len = Buffer.byteLength(s);
    this.ensure(len + 1);
    this.pos += this.buf.write(s, this.pos);
    this.buf[this.pos++] = 0;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  finish(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    if (this.code === null) {
      out.writeInt32BE(this.pos, 0);
    } else {
      out[0] = this.code;
      out.writeInt32BE(this.pos - 1, 1);
    }
    return out;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}
