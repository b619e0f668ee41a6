import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

// The parts of V8's .cpuprofile format (Chrome DevTools Profile) used here.
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotFunction {
  /** `name file:line`, or V8's pseudo-frames such as (garbage collector) and (idle). */
  frame: string;
  selfMs: number;
  /** Share of all sampled time, idle included. */
  share: number;
}

/** The newest .cpuprofile in dir written since `since` (ms epoch). */
export async function newestProfile(dir: string, since: number): Promise<string | undefined> {
  const names = (await readdir(dir).catch(() => [])).filter((name) => name.endsWith('.cpuprofile'));
  const dated = await Promise.all(
    names.map(async (name) => ({ path: join(dir, name), mtime: (await stat(join(dir, name))).mtimeMs })),
  );
  return dated
    .filter((f) => f.mtime >= since)
    .sort((a, b) => b.mtime - a.mtime)
    .at(0)?.path;
}

/** Functions by self time, summed over every node of the call tree that runs them. */
export async function hottestFunctions(
  path: string,
  count: number,
  stripPrefix: string,
): Promise<HotFunction[]> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as CpuProfile;
  const frameOf = new Map<number, string>();
  for (const { id, callFrame } of profile.nodes) {
    const name = callFrame.functionName || '(anonymous)';
    const url = callFrame.url.replace(/^file:\/\//, '').replace(stripPrefix, '');
    frameOf.set(id, url ? `${name} ${url}:${callFrame.lineNumber + 1}` : name);
  }
  // Each delta is the time before a sample, so sample i ran until sample i+1.
  const selfUs = new Map<string, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i + 1] ?? 0;
    const frame = frameOf.get(id) ?? '(unknown)';
    selfUs.set(frame, (selfUs.get(frame) ?? 0) + us);
    totalUs += us;
  });
  return [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([frame, us]) => ({ frame, selfMs: us / 1000, share: totalUs ? us / totalUs : 0 }));
}
