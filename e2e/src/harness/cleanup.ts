import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { ServerUser } from './server-user.js';

/** Everything needed to stop a cluster and erase it without asking it anything. */
export interface ClusterRemains {
  pgCtl: string;
  dataDir: string;
  /** The temp directory holding the data dir, socket, log and keys. */
  rootDir: string;
  user: ServerUser | undefined;
}

/** Ends the guarantee once the owner has cleaned up by itself. */
export interface Guard {
  release(): void;
}

/**
 * Makes sure the cluster is stopped and its directory removed even if its owner never calls stop():
 * - on a normal process exit (including process.exit and an uncaught exception), synchronously;
 * - on any other death of the owner (vitest SIGTERMs its fork workers after the last file and
 *   SIGKILLs them on timeout; neither runs 'exit' listeners), by a detached reaper process.
 */
export function guard(remains: ClusterRemains): Guard {
  return guardWith(remains, eraseSync, reaperScript);
}

const live = new Set<() => void>();
let exitHookInstalled = false;

/**
 * The mechanism behind {@link guard}, for any resource: `erase(remains)` runs on a normal exit;
 * `script` (CommonJS, `process.argv[1]` = remains as JSON) runs in a detached reaper when its
 * stdin closes, which the kernel does however the owner dies.
 */
export function guardWith<T>(remains: T, erase: (remains: T) => void, script: string): Guard {
  if (!exitHookInstalled) {
    process.on('exit', () => {
      for (const eraseOne of live) eraseOne();
    });
    exitHookInstalled = true;
  }
  const eraseOne = () => erase(remains);
  live.add(eraseOne);
  const reaper = spawnReaper(script, JSON.stringify(remains));
  return {
    release() {
      live.delete(eraseOne);
      // Kill before closing the pipe: a closed pipe is the reaper's signal to erase.
      reaper.kill();
      reaper.stdin.destroy();
    },
  };
}

function eraseSync({ pgCtl, dataDir, rootDir, user }: ClusterRemains): void {
  spawnSync(pgCtl, ['stop', '-D', dataDir, '-m', 'immediate'], {
    stdio: 'ignore',
    uid: user?.uid,
    gid: user?.gid,
    timeout: 30_000,
  });
  rmSync(rootDir, { recursive: true, force: true });
}

// The reaper holds the read end of a pipe whose only writer is the owner: the
// kernel closes it however the owner dies, so no polling and no pid reuse
// race. It mirrors eraseSync and is inline so it runs the same from the
// TypeScript sources under vitest and from dist.
const reaperScript = `
const { spawnSync } = require('node:child_process');
const { rmSync } = require('node:fs');
const { pgCtl, dataDir, rootDir, user } = JSON.parse(process.argv[1]);
process.stdin.on('close', () => {
  spawnSync(pgCtl, ['stop', '-D', dataDir, '-m', 'immediate'], { stdio: 'ignore', uid: user?.uid, gid: user?.gid, timeout: 30000 });
  rmSync(rootDir, { recursive: true, force: true });
}).resume();
`;

function spawnReaper(script: string, arg: string) {
  // Detached: its own process group, so the Ctrl+C that kills the test run
  // does not kill the reaper with it.
  const reaper = spawn(process.execPath, ['-e', script, arg], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
    env: {},
  });
  reaper.unref();
  (reaper.stdin as Socket).unref();
  return reaper;
}
