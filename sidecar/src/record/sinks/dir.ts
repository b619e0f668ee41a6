import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { RecordingIdSchema } from '@pgwarden/crds';
import { chunkSeqOf } from '../chunk.js';
import { fsyncDir } from '../spool.js';
import type { ChunkSink, RecordingStore } from './sink.js';

/**
 * Recordings in a directory (e.g. a mounted PVC): <root>/<recordingId>/<chunk>.
 * A chunk appears under its name only complete and fsync'd: it is written to a
 * hidden temp file in the same directory and renamed into place.
 */
export class DirStore implements ChunkSink, RecordingStore {
  readonly description: string;

  constructor(readonly root: string) {
    this.description = `dir ${root}`;
  }

  async put(recordingId: string, name: string, bytes: Buffer): Promise<void> {
    const dir = join(this.root, recordingId);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
    const fd = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o640);
    try {
      await fd.writeFile(bytes);
      await fd.sync();
    } catch (err) {
      await fd.close();
      await unlink(tmp).catch(() => {});
      throw err;
    }
    await fd.close();
    await rename(tmp, join(dir, name));
    await fsyncDir(dir);
  }

  async listRecordings(): Promise<string[]> {
    const entries = await readdir(this.root, { withFileTypes: true });
    return entries
      .filter((e) => e.isDirectory() && RecordingIdSchema.safeParse(e.name).success)
      .map((e) => e.name)
      .sort();
  }

  async listChunks(recordingId: string): Promise<string[]> {
    const names = await readdir(join(this.root, recordingId));
    return names.filter((n) => chunkSeqOf(n) !== null).sort();
  }

  readChunk(recordingId: string, name: string): Promise<Buffer> {
    return readFile(join(this.root, recordingId, name));
  }

  async close(): Promise<void> {}
}
