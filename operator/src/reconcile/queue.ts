/**
 * A keyed work queue: a key is never processed twice at once, a key added
 * while queued is not queued again, and a key added while being processed is
 * processed once more afterwards (the change it announces may have come too
 * late for the running pass). Delayed adds keep only the earliest deadline.
 */
export class WorkQueue {
  readonly #process: (key: string) => Promise<void>;
  readonly #queued = new Set<string>();
  readonly #running = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  #stopped = false;

  constructor(process: (key: string) => Promise<void>) {
    this.#process = process;
  }

  add(key: string): void {
    if (this.#stopped) return;
    this.#clearTimer(key);
    if (this.#running.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    queueMicrotask(() => void this.#run(key));
  }

  addAfter(key: string, delayMs: number): void {
    if (this.#stopped) return;
    const at = Date.now() + delayMs;
    const existing = this.#timers.get(key);
    if (existing && existing.at <= at) return;
    this.#clearTimer(key);
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.#timers.set(key, { at, timer });
  }

  /** Forgets a key's pending delayed add (the object is gone). */
  forget(key: string): void {
    this.#clearTimer(key);
  }

  /** Stops accepting work and waits for running passes to finish. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const key of [...this.#timers.keys()]) this.#clearTimer(key);
    while (this.#running.size > 0 || this.#queued.size > 0) await new Promise((r) => setTimeout(r, 10));
  }

  async #run(key: string): Promise<void> {
    this.#queued.delete(key);
    if (this.#stopped) return;
    this.#running.add(key);
    try {
      await this.#process(key);
    } finally {
      this.#running.delete(key);
      if (this.#dirty.delete(key)) this.add(key);
    }
  }

  #clearTimer(key: string): void {
    const entry = this.#timers.get(key);
    if (entry) clearTimeout(entry.timer);
    this.#timers.delete(key);
  }
}
