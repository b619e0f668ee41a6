import type { Logger } from '../observe/log.js';
import { BackendCode, FrontendCode } from '../wire/codes.js';
import { MessageReader } from '../wire/reader.js';
import { SocketReader } from '../wire/socket-reader.js';
import { MessageWriter } from '../wire/writer.js';
import { connectUpstream, type UpstreamSession, type UpstreamTarget } from './upstream.js';

/** Catalog answers are a row or two; anything bigger is not an answer to our query. */
const MAX_CATALOG_MESSAGE = 64 * 1024;

/**
 * Answers catalog questions the policy needs and the client's own session
 * must not be used for (it may be mid-transaction or mid-pipeline): one side
 * connection upstream per proxy, opened on first use, queries one at a time.
 * Failures answer null, which callers treat as "refuse".
 */
export class CatalogLookup {
  private connection: Promise<{ session: UpstreamSession; reader: SocketReader }> | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly body = new MessageReader();

  constructor(
    private readonly target: UpstreamTarget,
    private readonly params: Map<string, string>,
    private readonly log: Logger,
  ) {}

  /** "schema.name" of the function with this OID, or null when there is none or the lookup failed. */
  functionName(oid: number): Promise<string | null> {
    // The OID is a number read from the wire, so inlining it cannot inject SQL.
    return this.firstValue(
      `SELECT n.nspname || '.' || p.proname FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = ${oid >>> 0}`,
    );
  }

  close(): void {
    const connection = this.connection;
    this.connection = null;
    connection?.then(
      ({ session }) => session.socket.destroy(),
      () => undefined,
    );
  }

  private firstValue(sql: string): Promise<string | null> {
    const run = this.queue.then(() => withTimeout(this.query(sql), this.target.endpoint.connectTimeoutMs));
    this.queue = run.catch(() => undefined);
    return run.catch((err: Error) => {
      this.log.warn({ reason: err.message }, 'catalog lookup failed');
      this.close();
      return null;
    });
  }

  private async query(sql: string): Promise<string | null> {
    this.connection ??= connectUpstream(this.target, this.params).then((session) => {
      const reader = new SocketReader(session.socket);
      return { session, reader };
    });
    const { session, reader } = await this.connection;
    session.socket.write(new MessageWriter(FrontendCode.Query, sql.length + 8).cstring(sql).finish());
    let value: string | null = null;
    let failed: string | null = null;
    for (;;) {
      const { code, message } = await reader.readMessage(MAX_CATALOG_MESSAGE);
      if (code === BackendCode.DataRow && value === null) {
        const r = this.body.reset(message, 5, message.length);
        if (r.int16() > 0) {
          const length = r.int32();
          value = length < 0 ? null : r.bytes(length).toString('utf8');
        }
      } else if (code === BackendCode.ErrorResponse) {
        failed = 'the catalog query failed';
      } else if (code === BackendCode.ReadyForQuery) {
        if (failed) throw new Error(failed);
        return value;
      }
    }
  }
}

/** A lookup that hangs must not hold the client's session forever: it fails (and refuses) instead. */
function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
