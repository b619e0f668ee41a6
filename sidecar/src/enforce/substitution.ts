import { FrontendCode } from '../wire/codes.js';
import { decodeErrorFields, type PgError } from '../wire/error-response.js';
import { MessageWriter } from '../wire/writer.js';

interface Pending {
  token: string;
  /** Ordinal of the ReadyForQuery that closes the batch the stand-in was sent in. */
  readyIndex: number;
  error: PgError;
}

/**
 * A refused client message is not answered by the proxy itself: it is replaced
 * upstream by a stand-in that fails with a syntax error carrying a unique
 * token, and that error is swapped for pgwarden's on its way back. The server
 * therefore stays the single authority on ordering in pipelines, on skipping to
 * Sync after an error, and on aborting an open transaction exactly as a real
 * failure would.
 */
export class ErrorSubstitution {
  private readonly pending: Pending[] = [];
  private nextToken = 1;
  /** ReadyForQuery messages the upstream will send for what was forwarded so far. */
  private readyExpected = 0;
  private readyReceived = 0;
  /** Errors swapped so far: a change across one message tells that this message was swapped. */
  replaced = 0;

  /** Call for every message forwarded upstream that the server answers with ReadyForQuery (Query, Sync, FunctionCall). */
  countReadyProducer(): void {
    this.readyExpected++;
  }

  /** A stand-in for a refused simple Query or FunctionCall: a Query that fails and ends with ReadyForQuery. */
  standInQuery(error: PgError): Buffer {
    const token = this.enqueue(error, this.readyExpected + 1);
    this.readyExpected++;
    return new MessageWriter(FrontendCode.Query, 32).cstring(token).finish();
  }

  /** A stand-in for a refused Parse: same statement name, a body that fails to parse; the batch's Sync ends it. */
  standInParse(statementName: string, error: PgError): Buffer {
    const token = this.enqueue(error, this.readyExpected + 1);
    return new MessageWriter(FrontendCode.Parse, 48).cstring(statementName).cstring(token).int16(0).finish();
  }

  get idle(): boolean {
    return this.pending.length === 0;
  }

  /**
   * For an upstream ErrorResponse: pgwarden's error when it answers a stand-in,
   * else null (forward the server's own).
   */
  replacementFor(buf: Buffer, start: number, end: number): Buffer | null {
    const head = this.pending[0];
    if (!head || head.readyIndex !== this.readyReceived + 1) return null;
    const message = decodeErrorFields(buf, start, end).get('M') ?? '';
    if (!message.includes(head.token)) return null;
    this.pending.shift();
    this.replaced++;
    return head.error.encode();
  }

  /** On every upstream ReadyForQuery: stand-ins of batches that ended without reaching the server are dropped. */
  readyForQuery(): void {
    this.readyReceived++;
    while (this.pending.length > 0 && (this.pending[0] as Pending).readyIndex <= this.readyReceived)
      this.pending.shift();
  }

  private enqueue(error: PgError, readyIndex: number): string {
    const token = `pgwarden_refused_${this.nextToken++}`;
    this.pending.push({ token, readyIndex, error });
    return token;
  }
}
