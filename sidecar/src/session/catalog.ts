import type { Logger } from '../observe/log.js';
import { BackendCode, FrontendCode } from '../wire/codes.js';
import { MessageReader } from '../wire/reader.js';
import { SocketReader } from '../wire/socket-reader.js';
import { MessageWriter } from '../wire/writer.js';
import { connectUpstream, type UpstreamSession, type UpstreamTarget } from './upstream.js';

/** Catalog answers are rows of names; a single message bigger than this is not an answer to our query. */
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

  /**
   * Every row of a catalog query, values as text (null for NULL). Rejects when
   * the query fails or times out: callers that depend on the answer fail closed.
   */
  rows(sql: string): Promise<(string | null)[][]> {
    const run = this.queue.then(() => withTimeout(this.query(sql), this.target.endpoint.connectTimeoutMs));
    this.queue = run.catch(() => undefined);
    return run.then(
      (rows) => rows,
      (err: Error) => {
        this.log.warn({ reason: err.message }, 'catalog query failed');
        this.close();
        throw err;
      },
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
    return this.rows(sql).then(
      (rows) => rows[0]?.[0] ?? null,
      () => null,
    );
  }

  private async query(sql: string): Promise<(string | null)[][]> {
    this.connection ??= connectUpstream(this.target, this.params).then((session) => {
      const reader = new SocketReader(session.socket);
      return { session, reader };
    });
    const { session, reader } = await this.connection;
    session.socket.write(
      new MessageWriter(FrontendCode.Query, Buffer.byteLength(sql) + 8).cstring(sql).finish(),
    );
    const rows: (string | null)[][] = [];
    let failed: string | null = null;
    for (;;) {
      const { code, message } = await reader.readMessage(MAX_CATALOG_MESSAGE);
      if (code === BackendCode.DataRow) {
        const r = this.body.reset(message, 5, message.length);
        const row: (string | null)[] = [];
        for (let n = r.int16(); n > 0; n--) {
          const length = r.int32();
          row.push(length < 0 ? null : r.bytes(length).toString('utf8'));
        }
        rows.push(row);
      } else if (code === BackendCode.ErrorResponse) {
        failed = 'the catalog query failed';
      } else if (code === BackendCode.ReadyForQuery) {
        if (failed) throw new Error(failed);
        return rows;
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
