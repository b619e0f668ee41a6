import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type ApprovalRecord, ApprovalRecordSchema } from '@pgwarden/crds';
import { fsyncDir, writeDurably } from '../record/spool.js';

/**
 * The standalone approval store: one JSON file per request in a directory,
 * each write to a temporary file that is fsync'd, renamed over the old one and
 * made durable by an fsync of the directory. A request the client was told
 * about has reached the disk, so a restart of the sidecar loses none.
 */
export class ApprovalStore {
  private readonly records = new Map<string, ApprovalRecord>();
  /** Per record, the write in progress: writes of one record never overtake each other. */
  private readonly writes = new Map<string, Promise<void>>();

  private constructor(readonly dir: string) {}

  /** Opens (creating) the directory and reads every record in it; a file that does not validate stops the start. */
  static async open(dir: string): Promise<ApprovalStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const store = new ApprovalStore(dir);
    for (const name of (await readdir(dir)).sort()) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      const text = await readFile(join(dir, name), 'utf8');
      const parsed = ApprovalRecordSchema.safeParse(JSON.parse(text));
      if (!parsed.success || `${parsed.data.id}.json` !== name) {
        throw new Error(`approval store ${dir}: ${name} is not an approval record`);
      }
      store.records.set(parsed.data.id, parsed.data);
    }
    return store;
  }

  get(id: string): ApprovalRecord | undefined {
    return this.records.get(id);
  }

  all(): ApprovalRecord[] {
    return [...this.records.values()].sort((a, b) => a.request.createdAt.localeCompare(b.request.createdAt));
  }

  /** Keeps `record` in memory at once (later readers see it) and resolves when it is durable. */
  put(record: ApprovalRecord): Promise<void> {
    this.records.set(record.id, record);
    const previous = this.writes.get(record.id) ?? Promise.resolve();
    const text = `${JSON.stringify(record, null, 2)}\n`;
    // A failed write is the caller's to report; the next one still runs.
    const write = previous.catch(() => undefined).then(() => this.write(record.id, text));
    this.writes.set(record.id, write);
    const settled = () => {
      if (this.writes.get(record.id) === write) this.writes.delete(record.id);
    };
    write.then(settled, settled);
    return write;
  }

  /** Forgets `record` (a withdrawn request): its file goes, after any write of it in progress. */
  async remove(id: string): Promise<void> {
    this.records.delete(id);
    await (this.writes.get(id) ?? Promise.resolve()).catch(() => undefined);
    await rm(join(this.dir, `${id}.json`), { force: true });
    await fsyncDir(this.dir);
  }

  private async write(id: string, text: string): Promise<void> {
    await writeDurably(join(this.dir, `${id}.json`), Buffer.from(text));
    await fsyncDir(this.dir);
  }
}
