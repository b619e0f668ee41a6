import { BackendCode } from '../wire/codes.js';
import { encodeErrorResponse } from '../wire/error-response.js';
import { DROP } from '../wire/framer.js';
import { MessageWriter } from '../wire/writer.js';

/**
 * Enforces the policy's maxRows on each result: rows past the limit are
 * dropped on the wire, a NoticeResponse says so at the first dropped row, and
 * the CommandComplete tag is rewritten to the number of rows delivered, so
 * drivers' row counts agree with what the client received.
 */
export class RowLimit {
  private rows = 0;
  private truncated = false;

  constructor(private readonly maxRows: number) {}

  /** Sees every upstream header; true when the message must come whole to be dropped or rewritten. */
  wantsWhole(code: number): boolean {
    switch (code) {
      case BackendCode.DataRow:
        return ++this.rows > this.maxRows;
      case BackendCode.CommandComplete:
        if (this.truncated) return true;
        this.rows = 0;
        return false;
      case BackendCode.RowDescription:
      case BackendCode.ErrorResponse:
      case BackendCode.ReadyForQuery:
        this.rows = 0;
        this.truncated = false;
        return false;
      default:
        return false;
    }
  }

  /** For a message wantsWhole asked for: its replacement. */
  replace(code: number, buf: Buffer, start: number, end: number): Buffer | undefined {
    if (code === BackendCode.DataRow) {
      if (this.truncated) return DROP;
      this.truncated = true;
      return encodeErrorResponse(
        {
          severity: 'NOTICE',
          code: '01000',
          message: `pgwarden: result truncated to ${this.maxRows} rows by the policy's limits.maxRows`,
          hint: 'Add a LIMIT or a narrower WHERE clause to see the rows you need.',
        },
        BackendCode.NoticeResponse,
      );
    }
    if (code === BackendCode.CommandComplete) {
      this.rows = 0;
      this.truncated = false;
      return rewriteTag(buf.toString('utf8', start + 5, end - 1), this.maxRows);
    }
    return undefined;
  }
}

/** "SELECT 20000" → "SELECT 10000"; "FETCH n", "MOVE n", "COPY n" likewise. */
function rewriteTag(tag: string, delivered: number): Buffer {
  const rewritten = tag.replace(/ \d+$/, ` ${delivered}`);
  return new MessageWriter(BackendCode.CommandComplete, rewritten.length + 8).cstring(rewritten).finish();
}
