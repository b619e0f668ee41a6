import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The user docs stay true to the code: the metrics reference names exactly the
// metrics the code registers, every message troubleshooting.md quotes is in the
// source, and no relative link points at a missing file.

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string) => readFileSync(join(repoRoot, path), 'utf8');

/** The text of every .ts file under these directories (and .yaml/.tpl for the chart). */
function sources(dirs: readonly string[]): string {
  return dirs
    .flatMap((dir) =>
      readdirSync(join(repoRoot, dir), { recursive: true, encoding: 'utf8' })
        .filter((file) => /\.(ts|yaml|tpl)$/.test(file) && !file.endsWith('.test.ts'))
        .map((file) => readFileSync(join(repoRoot, dir, file), 'utf8')),
    )
    .join('\n');
}

describe('docs', () => {
  it('operations.md lists every metric the operator and the sidecar register, and no other', () => {
    const code = sources(['operator/src', 'sidecar/src']);
    const registered = new Set([...code.matchAll(/'(pgwarden_[a-z_]*[a-z])'/g)].map((m) => m[1] as string));
    const doc = read('docs/operations.md');
    const documented = new Set(
      doc
        .split('\n')
        .filter((line) => line.startsWith('| `pgwarden_'))
        .map((line) => /^\| `(pgwarden_[a-z_]+)`/.exec(line)?.[1] as string),
    );
    expect(
      [...registered].filter((name) => !documented.has(name)).sort(),
      'registered, not documented',
    ).toEqual([]);
    expect(
      [...documented].filter((name) => !registered.has(name)).sort(),
      'documented, not registered',
    ).toEqual([]);
    process.stdout.write(`metrics reference: ${documented.size} metrics\n`);
  });

  it('every message troubleshooting.md quotes on a > line is in the source, placeholders aside', () => {
    const code = sources(['sidecar/src', 'operator/src', 'crds/src', 'charts/pgwarden/templates']);
    const quoted = [...read('docs/troubleshooting.md').matchAll(/^> `(.+)`$/gm)].map((m) => m[1] as string);
    expect(quoted.length).toBeGreaterThan(20);
    const missing = quoted.flatMap((message) =>
      message
        .split(/<[^>]+>|…/)
        .map((piece) => piece.trim())
        .filter((piece) => piece.length >= 8 && !code.includes(piece))
        .map((piece) => `${JSON.stringify(piece)} (from ${message})`),
    );
    expect(missing).toEqual([]);
    process.stdout.write(`troubleshooting: ${quoted.length} messages found in the source\n`);
  });

  it('relative links in README.md and docs/*.md point at files that exist', () => {
    const files = [
      'README.md',
      ...readdirSync(join(repoRoot, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
    ];
    const broken = files.flatMap((file) =>
      [...read(file).matchAll(/\]\(([^)#\s]+)(#[^)\s]*)?\)/g)]
        .map((m) => m[1] as string)
        .filter((target) => !/^[a-z]+:/.test(target))
        .filter((target) => !existsSync(resolve(repoRoot, dirname(file), target)))
        .map((target) => `${file} → ${target}`),
    );
    expect(broken).toEqual([]);
  });
});
