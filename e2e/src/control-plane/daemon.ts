import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';

/** A long-running child in its own process group, its output appended to a log file. */
export interface Daemon {
  readonly name: string;
  /** Also the process group id. */
  readonly pid: number;
  readonly logFile: string;
  running(): boolean;
  /** Resolves when the process has exited, with how. */
  readonly exited: Promise<string>;
  /** The log written since this start, last `lines` lines. */
  logTail(lines?: number): Promise<string>;
  /** SIGTERM to the group, SIGKILL after timeoutMs; resolves once the process is gone. Idempotent. */
  stop(timeoutMs?: number): Promise<void>;
}

export function startDaemon(name: string, cmd: string, args: readonly string[], logFile: string): Daemon {
  const fd = openSync(logFile, 'a');
  const logStart = statSizeSync(fd);
  // detached: its own process group, so stop() reaches any children too and a
  // Ctrl-C in the terminal reaches only us; we decide the order of shutdown.
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const pid = child.pid;
  let status: string | undefined;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      status = signal ? `signal ${signal}` : `code ${code}`;
      resolve(status);
    });
    child.once('error', (error) => {
      status = error.message;
      resolve(status);
    });
  });
  if (pid === undefined) {
    return deadDaemon(name, logFile, exited);
  }
  let stopping: Promise<void> | undefined;
  return {
    name,
    pid,
    logFile,
    exited,
    running: () => status === undefined,
    logTail: (lines = 40) => tail(logFile, logStart, lines),
    stop(timeoutMs = 10_000) {
      stopping ??= (async () => {
        if (status !== undefined) return;
        signalGroup(pid, 'SIGTERM');
        const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), timeoutMs);
        await exited;
        clearTimeout(timer);
        // Whatever else the group started goes with it.
        signalGroup(pid, 'SIGKILL');
      })();
      return stopping;
    },
  };
}

/** Signals a process group; a group that is already gone is not an error. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function deadDaemon(name: string, logFile: string, exited: Promise<string>): Daemon {
  return {
    name,
    pid: 0,
    logFile,
    exited,
    running: () => false,
    logTail: () => exited,
    stop: async () => {},
  };
}

function statSizeSync(fd: number): number {
  try {
    return fstatSync(fd).size;
  } catch {
    return 0;
  }
}

async function tail(file: string, from: number, lines: number): Promise<string> {
  const size = (await stat(file).catch(() => undefined))?.size ?? 0;
  if (size <= from) return '';
  const text = (await readFile(file)).subarray(from).toString('utf8');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
