import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Guard, guardWith } from '../harness/cleanup.js';
import { signalGroup } from './daemon.js';

/**
 * Makes sure the process groups listed in `<rootDir>/pgids` are killed and
 * rootDir is removed even when the owner never cleans up (see guardWith). The
 * list is a file so that a restarted process needs no new reaper.
 */
export interface ProcessGuard extends Guard {
  /** Replaces the list of live process groups. */
  track(pgids: readonly number[]): void;
}

export function guardProcesses(rootDir: string): ProcessGuard {
  const guard = guardWith(rootDir, eraseSync, reaperScript);
  return {
    track(pgids) {
      writeFileSync(join(rootDir, 'pgids'), pgids.map((pgid) => `${pgid}\n`).join(''));
    },
    release: () => guard.release(),
  };
}

function eraseSync(rootDir: string): void {
  let pgids: number[] = [];
  try {
    pgids = readFileSync(join(rootDir, 'pgids'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    // Nothing was started yet.
  }
  for (const pgid of pgids) signalGroup(pgid, 'SIGKILL');
  rmSync(rootDir, { recursive: true, force: true });
}

// Mirrors eraseSync; inline so it runs the same from the sources and from dist.
const reaperScript = `
const { readFileSync, rmSync } = require('node:fs');
const { join } = require('node:path');
const rootDir = JSON.parse(process.argv[1]);
process.stdin.on('close', () => {
  let pgids = [];
  try { pgids = readFileSync(join(rootDir, 'pgids'), 'utf8').split('\\n').filter(Boolean).map(Number); } catch {}
  for (const pgid of pgids) { try { process.kill(-pgid, 'SIGKILL'); } catch {} }
  rmSync(rootDir, { recursive: true, force: true });
}).resume();
`;
