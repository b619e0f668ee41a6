import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type PgwardenOptions, type PgwardenProcess, startPgwarden } from '../processes/pgwarden.js';
import type { Scope } from '../processes/scope.js';
import { benchPolicyPath } from './sidecar.js';

/** Where the recording target's chunks wait (spool) and end up (a dir sink). */
export interface RecordingDirs {
  spool: string;
  sink: string;
}

/**
 * The pgwarden+policy+recording target: the bench policy plus spec.recording
 * with rows included (the default), shipping to a directory sink on the same
 * disk, so what the target pays is the recording itself, not a network store.
 */
export async function startRecordingProxy(
  scope: Scope,
  options: Omit<PgwardenOptions, 'policy'>,
): Promise<{ proxy: PgwardenProcess; dirs: RecordingDirs }> {
  const root = await mkdtemp(join(tmpdir(), 'pgwarden-bench-recording-'));
  const dirs = { spool: join(root, 'spool'), sink: join(root, 'sink') };
  const policy = join(root, 'policy.yaml');
  // The bench policy's spec ends the file, two spaces in: the recording section continues it.
  const base = await readFile(benchPolicyPath, 'utf8');
  await writeFile(
    policy,
    `${base.trimEnd()}\n  recording:\n    sink: { type: dir, path: ${JSON.stringify(dirs.sink)} }\n    includeRows: true\n`,
  );
  const proxy = await startPgwarden(scope, {
    ...options,
    policy,
    env: { ...options.env, PGWARDEN_SPOOL_DIR: dirs.spool },
  });
  return { proxy, dirs };
}

/**
 * Bytes of recording chunks stored in the sink, once the spool has shipped
 * everything (pgbench's sessions have ended and been sealed): the same bytes
 * the spool held, compressed.
 */
export async function storedRecordingBytes(dirs: RecordingDirs, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  // The sessions pgbench just closed are sealed asynchronously: their final chunks reach the spool shortly after.
  await sleep(200);
  while ((await chunkBytes(dirs.spool)) > 0) {
    if (Date.now() > deadline) throw new Error(`the bench recording spool ${dirs.spool} did not drain`);
    await sleep(50);
  }
  return chunkBytes(dirs.sink);
}

/** Total size of the chunk files one level below `dir` (one directory per recording). */
async function chunkBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (!entry.isDirectory()) continue;
    const recording = join(dir, entry.name);
    for (const name of await readdir(recording).catch(() => [])) {
      if (!name.endsWith('.jsonl.gz')) continue;
      total += await stat(join(recording, name)).then(
        (s) => s.size,
        () => 0,
      );
    }
  }
  return total;
}
