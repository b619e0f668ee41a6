import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchReport, renderMarkdown } from './report.js';

// The repository's .cache/ (gitignored), the same from e2e/src/bench/ and e2e/dist/bench/.
const resultsDir = fileURLToPath(new URL('../../../.cache/bench/', import.meta.url));

/** Writes the report as JSON (every sample) and markdown; returns the markdown path. */
export async function writeResults(report: BenchReport): Promise<string> {
  await mkdir(resultsDir, { recursive: true });
  const stamp = report.startedAt.replaceAll(':', '').replace(/\.\d+Z$/, 'Z');
  const base = join(resultsDir, `bench-${stamp}`);
  await writeFile(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(`${base}.md`, renderMarkdown(report));
  return `${base}.md`;
}
