import type { Logger } from '../observe/log.js';
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF, pause } from './backoff.js';
import type { ChunkSink } from './sinks/sink.js';
import type { Spool } from './spool.js';

export interface ShipperStats {
  shippedChunks: number;
  shippedBytes: number;
  failures: number;
  /** Failures in a row since the last chunk the sink took; 0 when the sink is healthy. */
  consecutiveFailures: number;
  lastError: string | null;
}

/**
 * Moves chunks from the spool to the sink, oldest first, one at a time. A chunk
 * is removed from the spool only after the sink confirmed it; a failure is
 * retried after an exponential, jittered delay, with the same chunk, forever:
 * the spool cap, not the shipper, decides when the sidecar stops accepting work.
 */
export class Shipper {
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  readonly stats: ShipperStats = {
    shippedChunks: 0,
    shippedBytes: 0,
    failures: 0,
    consecutiveFailures: 0,
    lastError: null,
  };

  constructor(
    private readonly spool: Spool,
    private readonly sink: ChunkSink,
    private readonly log: Logger | undefined,
    private readonly backoff: BackoffOptions = DEFAULT_BACKOFF,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops after the chunk in flight, or after waitMs: a hung sink must not hold up shutdown. */
  async stop(waitMs = 5_000): Promise<void> {
    this.stopping.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loop, new Promise((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }

  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      const chunk = this.spool.peek();
      if (!chunk) {
        await this.spool.waitForChunk(signal);
        continue;
      }
      try {
        const bytes = await this.spool.read(chunk).catch(async (err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
          return null;
        });
        if (bytes === null) {
          // Someone removed the file under us: nothing left to ship, and retrying would loop forever.
          this.log?.error(
            { recording: chunk.recordingId, chunk: chunk.name },
            'spooled recording chunk vanished',
          );
          await this.spool.remove(chunk);
          continue;
        }
        await this.sink.put(chunk.recordingId, chunk.name, bytes);
        await this.spool.remove(chunk);
        this.stats.shippedChunks += 1;
        this.stats.shippedBytes += chunk.size;
        if (this.stats.consecutiveFailures > 0) {
          this.log?.info(
            { sink: this.sink.description, failures: this.stats.consecutiveFailures },
            'recording sink reachable again',
          );
        }
        this.stats.consecutiveFailures = 0;
      } catch (err) {
        this.stats.failures += 1;
        this.stats.consecutiveFailures += 1;
        this.stats.lastError = (err as Error).message;
        const delay = backoffDelay(this.stats.consecutiveFailures - 1, this.backoff);
        // Log the first failure and then every tenth: an outage must not flood the log.
        if (this.stats.consecutiveFailures % 10 === 1) {
          this.log?.warn(
            {
              sink: this.sink.description,
              recording: chunk.recordingId,
              chunk: chunk.name,
              err: this.stats.lastError,
              retryInMs: delay,
              spoolBytes: this.spool.bytes,
            },
            'recording chunk not shipped; retrying',
          );
        }
        await pause(delay, signal);
      }
    }
  }
}
