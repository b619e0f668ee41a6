import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** A child Node process that owns a harness resource, so a test can make the owner die for real. */
export interface OwnerProcess {
  child: ChildProcess;
  /** The first line the body printed, parsed as JSON. */
  report: Promise<unknown>;
  exited: Promise<unknown>;
}

// Node strips the types itself; the hook maps the sources' `.js` imports to
// their `.ts` files, so the owner runs the same sources as the test.
const prelude = `
import { registerHooks } from 'node:module';
registerHooks({
  resolve(specifier, context, next) {
    try {
      return next(specifier, context);
    } catch (error) {
      if (!specifier.startsWith('.') || !specifier.endsWith('.js')) throw error;
      return next(specifier.replace(/\\.js$/, '.ts'), context);
    }
  },
});
const mod = await import(process.argv[1]);
`;

/**
 * Runs `body` (an ES module snippet with `mod` = the module at `moduleUrl` and
 * `process.argv[2]` = `arg`) in a child Node process. The body reports by
 * printing one JSON line.
 */
export function spawnOwner(moduleUrl: URL, body: string, arg: string): OwnerProcess {
  const child = spawn(process.execPath, ['--input-type=module', '-e', prelude + body, moduleUrl.href, arg], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const report = once(createInterface({ input: child.stdout as NodeJS.ReadableStream }), 'line').then(
    ([line]) => JSON.parse(line as string) as unknown,
  );
  return { child, report, exited };
}

/** Whether a process exists and has not exited (a zombie only waits for its parent to reap it). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
