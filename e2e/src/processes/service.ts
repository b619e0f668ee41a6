import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../harness/port.js';
import type { Scope } from './scope.js';

export interface ServiceSpec {
  cmd: string;
  args: string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Signal for a graceful stop; SIGKILL follows after stopTimeoutMs. Default SIGTERM. */
  stopSignal?: NodeJS.Signals;
  stopTimeoutMs?: number;
}

/** A long-running child (PgBouncer, the proxy) listening on 127.0.0.1:port. */
export interface Service {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  /** What it printed so far (stdout and stderr interleaved, last 64 KiB). */
  output(): string;
  /** Graceful stop, then SIGKILL; resolves once the process is gone. Idempotent. */
  stop(): Promise<void>;
}

const readyTimeoutMs = 20_000;
const portAttempts = 3;
const outputLimit = 64 * 1024;

/**
 * Starts a service on a free port and waits until the port accepts connections. Retries with
 * another port when the service dies early, since another process may have taken the port
 * between freePort() and the service's bind().
 */
export async function startService(
  scope: Scope,
  name: string,
  specFor: (port: number) => ServiceSpec | Promise<ServiceSpec>,
): Promise<Service> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const service = launch(scope, name, port, await specFor(port));
    try {
      await service.ready;
      return service;
    } catch (error) {
      await service.stop();
      if (attempt >= portAttempts) throw error;
    }
  }
}

function launch(
  scope: Scope,
  name: string,
  port: number,
  spec: ServiceSpec,
): Service & { ready: Promise<void> } {
  const child = spawn(spec.cmd, spec.args, {
    env: { ...process.env, ...spec.env },
    cwd: spec.cwd,
    uid: spec.uid,
    gid: spec.gid,
    // Its own process group: a Ctrl-C in the terminal reaches us, and we
    // decide the order in which things stop.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-outputLimit);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', (error) => {
      collect(Buffer.from(`${error.message}\n`));
      resolve();
    });
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= stopChild(child, exited, spec.stopSignal ?? 'SIGTERM', spec.stopTimeoutMs ?? 10_000);
    return stopping;
  };
  scope.defer(name, stop, () => {
    if (isRunning(child)) child.kill('SIGKILL');
  });
  const ready = waitForPort(port, async () => {
    if (isRunning(child)) return;
    await exited;
    throw new Error(
      `${name} exited (${describeExit(child)}) before accepting connections:\n${output.trim()}`,
    );
  });
  return { name, pid: child.pid ?? 0, port, output: () => output, stop, ready };
}

async function stopChild(
  child: ChildProcess,
  exited: Promise<void>,
  signal: NodeJS.Signals,
  timeoutMs: number,
): Promise<void> {
  if (!isRunning(child)) return exited;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

function isRunning(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

function describeExit(child: ChildProcess): string {
  return child.signalCode ?? `code ${child.exitCode ?? 'unknown'}`;
}

/** Polls until the port accepts a connection; assertAlive throws once the service has died. */
async function waitForPort(port: number, assertAlive: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    await assertAlive();
    if (await accepts(port)) return;
    if (Date.now() > deadline) throw new Error(`nothing accepted connections on 127.0.0.1:${port} in time`);
    await sleep(50);
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
