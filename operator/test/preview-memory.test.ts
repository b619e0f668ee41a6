import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const safetyModule = fileURLToPath(new URL('../dist/approval/preview/safety.js', import.meta.url));

/**
 * A fresh process (its own V8 flags and peak RSS) decides whether 20 held
 * statements may be previewed, which parses them with libpg-query, waits for
 * background compile jobs, and reports its peak resident memory. Without the
 * baseline-compiler flags a single preview peaked at ~620 MiB on Node 24.
 */
const child = `
  const { previewRefusal } = await import(${JSON.stringify(safetyModule)});
  const { readFileSync } = await import('node:fs');
  for (let i = 0; i < 20; i++) {
    const refusal = await previewRefusal(\`DELETE FROM orders a USING customers b
      WHERE a.cid = b.id AND a.total > \${i} AND b.email LIKE '%\${i}%'\`);
    if (refusal !== null) throw new Error(refusal);
  }
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const peak = /VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1];
  process.stdout.write(peak);
`;

it('keeps impact previews off the optimizing WASM compiler, whose one compile job would need ~550 MiB', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', child], {
    timeout: 60_000,
  });
  const peakMiB = Number(stdout) / 1024;
  console.log(`operator preview process peak RSS after 20 previews: ${peakMiB.toFixed(0)} MiB`);
  // The operator's default memory limit is 512 Mi, which the optimizing compile alone exceeds.
  expect(peakMiB).toBeLessThan(256);
});
