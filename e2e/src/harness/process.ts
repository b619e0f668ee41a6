import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface RunOptions {
  /** Merged over process.env; a key set to `undefined` removes the inherited variable. */
  env?: Record<string, string | undefined>;
  /** Written to stdin, which is then closed (it is closed right away when absent). */
  input?: string;
  /** Kill the command (SIGKILL) and reject after this long. Default 60 s. */
  timeoutMs?: number;
  cwd?: string;
  /** Run as this user and group (only when we are root). */
  uid?: number;
  gid?: number;
}

export interface RunResult {
  /** Exit status, or null when the command died of a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

// A hung client must not outlive its test: vitest moves on after a test
// timeout but never kills the children a worker spawned.
const defaultTimeoutMs = 60_000;

/** Runs a command to completion and collects its output; a non-zero exit is a result, not an error. */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const { env, input, timeoutMs = defaultTimeoutMs, cwd, uid, gid } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, ...env },
      cwd,
      uid,
      gid,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const output = collect(child);
    // A command that exits without reading its input makes the write fail with
    // EPIPE; its exit status is what the caller needs to see.
    child.stdin.on('error', () => {});
    child.stdin.end(input);

    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} timed out after ${timeoutMs} ms\n${output.stderr()}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    // 'close' rather than 'exit': only then is all output collected.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: output.stdout(), stderr: output.stderr() });
    });
  });
}

export interface Started {
  readonly child: ChildProcess;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
  /** Exit status, or null when the command died of a signal. */
  readonly exited: Promise<number | null>;
}

/** Starts a long-running command and collects its output as it comes; the caller stops it (child.kill). */
export function start(
  cmd: string,
  args: readonly string[],
  options: Pick<RunOptions, 'env' | 'cwd'> = {},
): Started {
  const child = spawn(cmd, args, {
    env: { ...process.env, ...options.env },
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, ...collect(child), exited };
}

function collect(child: ChildProcess): { stdout(): string; stderr(): string } {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return { stdout: () => stdout, stderr: () => stderr };
}

/** The first executable `program` in a directory of PATH, as a shell would find it; undefined when there is none. */
export function findOnPath(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}
