import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { run } from '../harness/process.js';

// `make demo < /dev/null` as CI runs it: the built demo with stdin not a
// terminal runs its scripted walk-through, checks every outcome itself and exits 0.

const demo = fileURLToPath(new URL('../../dist/demo/main.js', import.meta.url));

it('make demo without a terminal: masked SELECT, blocked DROP, DELETE approved from a second command, replay, exit 0', async () => {
  expect(existsSync(demo), `${demo} missing: build first (make build)`).toBe(true);
  const started = performance.now();
  const result = await run(process.execPath, [demo], { timeoutMs: 120_000 });
  const output = result.stdout + result.stderr;
  expect(result.code, output).toBe(0);
  expect(output).toMatch(/\*\*\*-\*\*-0001/);
  expect(output).toMatch(/ERROR: {2}pgwarden: denied by rule "no-ddl"/);
  expect(output).toMatch(/\$ pnpm pgwarden approvals approve apr-[0-9a-z]+ --as alice/);
  expect(output).toMatch(/^DELETE 12$/m);
  expect(output).toMatch(/\$ pnpm pgwarden replay \S+ --session \S+\nRecording /);
  expect(output).toMatch(/-- chain intact: \d+ chunks, \d+ events, sealed/);
  expect(output).toMatch(/psql 'postgresql:\/\/demo@127\.0\.0\.1:6432\/app\?sslmode=disable'/);
  // The masking hash key stays in the proxy's environment, never on the screen.
  expect(output).not.toMatch(/PGWARDEN_HASH_KEY=[A-Za-z0-9+/]{8}/);
  process.stdout.write(`demo ran in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
});
