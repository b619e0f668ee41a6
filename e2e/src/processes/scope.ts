interface Cleanup {
  label: string;
  run: () => Promise<void> | void;
  /** Last resort from the 'exit' event, where nothing asynchronous runs any more. */
  runSync: (() => void) | undefined;
}

/**
 * Owns everything a script started (processes, temp dirs, clusters) and undoes it in reverse
 * order exactly once: when the body ends, fails, or the user interrupts it.
 */
export class Scope {
  readonly #cleanups: Cleanup[] = [];
  #closing: Promise<void> | undefined;
  #interruptsHeld = 0;

  defer(label: string, run: () => Promise<void> | void, runSync?: () => void): void {
    if (this.#closing) throw new Error(`cannot start ${label}: shutting down`);
    this.#cleanups.push({ label, run, runSync });
  }

  /**
   * While held, Ctrl-C belongs to a foreground child (interactive psql cancels its query with it)
   * instead of ending the script. Returns the release function.
   */
  holdInterrupts(): () => void {
    this.#interruptsHeld++;
    let released = false;
    return () => {
      if (!released) this.#interruptsHeld--;
      released = true;
    };
  }

  get interruptsHeld(): boolean {
    return this.#interruptsHeld > 0;
  }

  close(): Promise<void> {
    this.#closing ??= this.#unwind();
    return this.#closing;
  }

  runRemainingSync(): void {
    for (const cleanup of this.#cleanups.splice(0).reverse()) {
      try {
        cleanup.runSync?.();
      } catch {
        // Exiting anyway; the other cleanups still deserve their chance.
      }
    }
  }

  async #unwind(): Promise<void> {
    while (this.#cleanups.length > 0) {
      const cleanup = this.#cleanups.pop() as Cleanup;
      try {
        await cleanup.run();
      } catch (error) {
        process.stderr.write(`cleanup of ${cleanup.label} failed: ${(error as Error).message}\n`);
        cleanup.runSync?.();
      }
    }
  }
}

const exitCodes: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

/**
 * Runs body with a fresh Scope and sets the exit code: 0 on success, 1 with the error's message on
 * failure, 128+n when a signal cut it short. Cleans up in every case.
 */
export async function runScript(name: string, body: (scope: Scope) => Promise<void>): Promise<void> {
  const scope = new Scope();
  const onExit = () => scope.runRemainingSync();
  process.on('exit', onExit);
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signal === 'SIGINT' && scope.interruptsHeld) return;
    interrupted = true;
    process.stderr.write(`\n${name}: ${signal}, cleaning up…\n`);
    // The body keeps running against resources that are going away; exiting
    // as soon as they are gone keeps its errors from reaching the user.
    void scope.close().finally(() => process.exit(exitCodes[signal] ?? 1));
  };
  for (const signal of Object.keys(exitCodes) as NodeJS.Signals[]) process.on(signal, onSignal);
  try {
    await body(scope);
  } catch (error) {
    // After an interrupt, failures are the teardown pulling things from under the body.
    if (interrupted) return;
    process.stderr.write(`${name} failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  } finally {
    await scope.close();
    process.off('exit', onExit);
    for (const signal of Object.keys(exitCodes) as NodeJS.Signals[]) process.off(signal, onSignal);
  }
}
