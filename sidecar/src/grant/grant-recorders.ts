import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { RecordingSettings } from '@pgwarden/crds';
import { canonicalJson } from '../decide/canonical-json.js';
import type { Logger } from '../observe/log.js';
import type { ProxyMetrics } from '../observe/metrics.js';
import { openRecorder } from '../proxy/recorders.js';
import type { Recorder } from '../record/recorder.js';

interface Entry {
  recorder: Promise<Recorder>;
  users: number;
}

/**
 * The recorders of grant mode. Grants can change spec.recording (another
 * sink, another cap) while sessions recorded under the old settings are still
 * open, and one spool directory belongs to one recorder; so each distinct
 * settings value records into its own subdirectory of the spool directory,
 * named by its hash, and is closed when no policy runtime uses it.
 */
export class GrantRecorders {
  private readonly entries = new Map<string, Entry>();
  private readonly keys = new Map<Recorder, string>();
  private latest: Recorder | null = null;
  private observed = false;

  constructor(
    private readonly spoolDir: string,
    private readonly log: Logger,
    private readonly metrics: ProxyMetrics,
  ) {}

  async acquire(settings: RecordingSettings): Promise<Recorder> {
    const key = createHash('sha256').update(canonicalJson(settings)).digest('hex').slice(0, 16);
    let entry = this.entries.get(key);
    if (!entry) {
      const opening = openRecorder(settings, join(this.spoolDir, key), this.log);
      entry = { recorder: opening, users: 0 };
      this.entries.set(key, entry);
      opening.catch(() => this.entries.delete(key));
    }
    entry.users++;
    const recorder = await entry.recorder.catch((err: unknown) => {
      (entry as Entry).users--;
      throw err;
    });
    this.keys.set(recorder, key);
    this.latest = recorder;
    if (!this.observed) {
      // The recording metrics describe the recorder new sessions use.
      this.observed = true;
      this.metrics.observeRecorder(() => (this.latest as Recorder).stats());
    }
    return recorder;
  }

  /** A runtime stopped using `recorder`; the last one closes it (its sessions have all ended). */
  release(recorder: Recorder, shipTimeoutMs: number): void {
    const key = this.keys.get(recorder);
    const entry = key === undefined ? undefined : this.entries.get(key);
    if (key === undefined || !entry || --entry.users > 0) return;
    this.entries.delete(key);
    this.keys.delete(recorder);
    void recorder
      .close({ shipTimeoutMs })
      .then(({ shipped }) => this.log.info({ shipped }, 'recordings of a former policy sealed'));
  }

  async close(shipTimeoutMs: number): Promise<void> {
    const open = [...this.entries.values()];
    this.entries.clear();
    this.keys.clear();
    const results = await Promise.allSettled(
      open.map(async (e) => (await e.recorder).close({ shipTimeoutMs })),
    );
    const shipped = results.every((r) => r.status === 'fulfilled' && r.value.shipped);
    if (open.length > 0) this.log.info({ shipped }, 'recordings sealed');
  }
}
