import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SessionTotals } from '@pgwarden/crds';
import { chunkName, chunkSeqOf, decodeChunk, type EncodedChunk, sha256Hex } from './chunk.js';
import { countEvent, emptyTotals } from './totals.js';

/**
 * The local spool: one directory per recording holding the chunks not yet
 * confirmed by the sink, plus `head.json`, the state needed to continue or
 * seal the chain after a crash (the chunks themselves may be gone, shipped).
 *
 *   <spool>/.lock                      pid of the sidecar that owns the spool
 *   <spool>/<recordingId>/NNNNNNNNNN.jsonl.gz
 *   <spool>/<recordingId>/head.json
 *
 * A chunk counts as written once its bytes are fsync'd and it has been renamed
 * to its final name; `*.tmp` files are unfinished writes, removed at open.
 */

export interface SpoolHead {
  recordingId: string;
  /** Sequence number of the last chunk written. */
  seq: number;
  sha256: string;
  /** seq of the next event. */
  nextEvent: number;
  lastAt: string;
  totals: SessionTotals;
  sealed: boolean;
}

export interface SpooledChunk {
  recordingId: string;
  name: string;
  path: string;
  size: number;
  final: boolean;
  /** When the chunk was written to the spool (ms since the epoch; a recovered chunk's mtime). */
  writtenAt: number;
}

export class SpoolLockedError extends Error {}

export class Spool {
  private readonly queue: SpooledChunk[] = [];
  private totalBytes = 0;
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly dir: string,
    readonly capBytes: number,
  ) {}

  /**
   * Takes the spool (one sidecar per spool directory), removes unfinished
   * writes and queues every chunk left by an earlier run. Returns the heads of
   * recordings that were never sealed: their sidecar died.
   */
  static async open(dir: string, capBytes: number): Promise<{ spool: Spool; orphans: SpoolHead[] }> {
    await mkdir(dir, { recursive: true });
    await takeLock(dir);
    const spool = new Spool(dir, capBytes);
    const orphans: SpoolHead[] = [];
    const entries = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory());
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      const head = await spool.recover(entry.name);
      if (head && !head.sealed) orphans.push(head);
    }
    return { spool, orphans };
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** At or over the cap: the recorder refuses new statements (fail closed) until shipping drains it. */
  get full(): boolean {
    return this.totalBytes >= this.capBytes;
  }

  get pendingChunks(): number {
    return this.queue.length;
  }

  /** When the oldest chunk still in the spool was written (ms since the epoch); null when it is empty. */
  oldestWrittenAt(): number | null {
    let oldest: number | null = null;
    for (const c of this.queue) if (oldest === null || c.writtenAt < oldest) oldest = c.writtenAt;
    return oldest;
  }

  /** The oldest chunk not yet confirmed by the sink. */
  peek(): SpooledChunk | undefined {
    return this.queue[0];
  }

  /** Resolves when a chunk is queued (at once if one is) or the signal aborts. */
  waitForChunk(signal: AbortSignal): Promise<void> {
    if (this.queue.length > 0 || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Writes a chunk durably: temp file, fsync, rename; then the head; then an
   * fsync of the directory so both renames survive a crash.
   */
  async writeChunk(chunk: EncodedChunk, head: SpoolHead): Promise<void> {
    const recordingDir = join(this.dir, chunk.header.recordingId);
    if (chunk.header.seq === 0) await mkdir(recordingDir, { recursive: true });
    const name = chunkName(chunk.header.seq);
    const path = join(recordingDir, name);
    await writeDurably(path, chunk.bytes);
    await writeDurably(join(recordingDir, 'head.json'), Buffer.from(JSON.stringify(head)));
    await fsyncDir(recordingDir);
    if (chunk.header.seq === 0) await fsyncDir(this.dir);
    this.enqueue({
      recordingId: head.recordingId,
      name,
      path,
      size: chunk.bytes.length,
      final: chunk.header.final,
      writtenAt: Date.now(),
    });
  }

  async read(chunk: SpooledChunk): Promise<Buffer> {
    return readFile(chunk.path);
  }

  /** After the sink confirmed the chunk. A sealed recording's directory goes with its final chunk. */
  async remove(chunk: SpooledChunk): Promise<void> {
    await unlink(chunk.path).catch(ignoreMissing);
    const i = this.queue.indexOf(chunk);
    if (i >= 0) this.queue.splice(i, 1);
    this.totalBytes -= chunk.size;
    if (chunk.final) await rm(join(this.dir, chunk.recordingId), { recursive: true, force: true });
  }

  async close(): Promise<void> {
    for (const wake of [...this.waiters]) wake();
    await unlink(join(this.dir, '.lock')).catch(ignoreMissing);
  }

  private enqueue(chunk: SpooledChunk): void {
    this.queue.push(chunk);
    this.totalBytes += chunk.size;
    for (const wake of [...this.waiters]) wake();
  }

  /** Queues a recording's chunks and rebuilds its head from head.json and any chunk written after it. */
  private async recover(recordingId: string): Promise<SpoolHead | null> {
    const recordingDir = join(this.dir, recordingId);
    const names = await readdir(recordingDir);
    for (const name of names) {
      if (name.endsWith('.tmp')) await unlink(join(recordingDir, name)).catch(ignoreMissing);
    }
    let head = await readHead(recordingDir);
    const chunks = names
      .map((name) => ({ name, seq: chunkSeqOf(name) }))
      .filter((c): c is { name: string; seq: number } => c.seq !== null)
      .sort((a, b) => a.seq - b.seq);
    for (const { name, seq } of chunks) {
      const path = join(recordingDir, name);
      const bytes = await readFile(path);
      // A crash between the chunk's rename and the head's leaves a chunk the head does not know yet.
      if (head === null || seq > head.seq) {
        const decoded = await decodeChunk(bytes).catch(() => null);
        if (decoded === null) {
          // Renamed only after fsync, so a chunk that does not decode was damaged at rest; keep it for the sink,
          // where verification will name it, and continue the chain from it.
          head = head && { ...head, seq, sha256: sha256Hex(bytes) };
        } else {
          const totals = head ? { ...head.totals } : emptyTotals();
          for (const event of decoded.events) countEvent(totals, event);
          head = {
            recordingId,
            seq,
            sha256: sha256Hex(bytes),
            nextEvent: decoded.header.firstEvent + decoded.events.length,
            lastAt: decoded.header.lastAt,
            totals,
            sealed: decoded.header.final,
          };
        }
      }
      this.enqueue({
        recordingId,
        name,
        path,
        size: bytes.length,
        final: head?.sealed === true && head.seq === seq,
        writtenAt: (await stat(path)).mtimeMs,
      });
    }
    if (head === null) {
      if (chunks.length === 0) await rm(recordingDir, { recursive: true, force: true });
      return null;
    }
    if (head.sealed && chunks.length === 0) {
      await rm(recordingDir, { recursive: true, force: true });
    }
    return head;
  }
}

async function readHead(recordingDir: string): Promise<SpoolHead | null> {
  try {
    return JSON.parse(await readFile(join(recordingDir, 'head.json'), 'utf8')) as SpoolHead;
  } catch {
    return null;
  }
}

/** Writes `bytes` to `path` through an fsync'd temporary file and a rename; fsync the directory to make the rename durable. */
export async function writeDurably(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`;
  const fd = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
  try {
    await fd.writeFile(bytes);
    await fd.sync();
  } finally {
    await fd.close();
  }
  await rename(tmp, path);
}

export async function fsyncDir(dir: string): Promise<void> {
  const fd = await open(dir, constants.O_RDONLY);
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}

/** One sidecar per spool: a second one would interleave chains and seal live recordings as interrupted. */
async function takeLock(dir: string): Promise<void> {
  const lock = join(dir, '.lock');
  try {
    const owner = Number((await readFile(lock, 'utf8')).trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
      throw new SpoolLockedError(`spool ${dir} is in use by process ${owner}`);
    }
  } catch (err) {
    if (err instanceof SpoolLockedError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await writeFile(lock, `${process.pid}\n`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
