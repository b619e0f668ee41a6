import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const parserModule = fileURLToPath(new URL('../../dist/analyze/parser.js', import.meta.url));

/**
 * A fresh process (its own V8 flags and peak RSS) parses enough distinct
 * statements for V8 to re-compile the parser's WASM with its optimizing
 * compiler if it is allowed to, waits for background compile jobs, and reports
 * its peak resident memory. With that re-compile the peak was ~660 MiB on Node
 * 24; without it ~100 MiB.
 */
const child = `
  const { analyze, ensureParserLoaded } = await import(${JSON.stringify(parserModule)});
  const { readFileSync } = await import('node:fs');
  await ensureParserLoaded();
  for (let i = 0; i < 4000; i++) {
    analyze(\`SELECT a.id, b.name FROM orders a JOIN customers b ON a.cid = b.id LEFT JOIN t\${i} c ON c.id = a.id
             WHERE a.total > \${i} AND b.email LIKE '%\${i}%' ORDER BY a.id LIMIT 10\`);
  }
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const peak = /VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1];
  process.stdout.write(peak);
`;

it('keeps the parser off the optimizing WASM compiler, whose one compile job would need ~550 MiB', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', child], {
    timeout: 60_000,
  });
  const peakMiB = Number(stdout) / 1024;
  console.log(`parser process peak RSS after 4000 uncached parses: ${peakMiB.toFixed(0)} MiB`);
  // The sidecar's default memory limit is 256 MiB; the optimizing compile alone exceeds it.
  expect(peakMiB).toBeLessThan(256);
});
