import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../harness/process.js';

// Docker is not available here, so this checks what each image would hold:
// the production tree its Dockerfile copies to /app, built by the same script
// (scripts/production-tree.sh), with the CLIs run from it outside the repository.

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const script = join(repoRoot, 'scripts/production-tree.sh');

const images = [
  {
    package: '@pgwarden/sidecar',
    dockerfile: 'sidecar/Dockerfile',
    // What a dev dependency of the sidecar would look like in the tree.
    devOnly: ['pg', 'postgres', 'pg-cursor', '@pgwarden/e2e'],
    commands: [
      { args: ['--help'], expect: /Usage: pgwarden <command>/ },
      {
        // Parses with libpg-query's WebAssembly build: the heaviest dependency, loaded for real.
        args: ['policy', 'test', '--policy', 'POLICY', '-c', 'DROP TABLE orders', '-c', 'SELECT 1'],
        expect: /deny .*DROP TABLE orders[\s\S]*allow .*SELECT 1/,
      },
    ],
  },
  {
    package: '@pgwarden/operator',
    dockerfile: 'operator/Dockerfile',
    devOnly: ['@pgwarden/e2e', '@types/pg'],
    commands: [{ args: ['--help'], expect: /Usage: pgwarden-operator \[options\]/ }],
  },
] as const;

describe('container images: the production trees the Dockerfiles copy', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it.each(images)('$package: production dependencies only, the CLI runs from the tree', async (image) => {
    const dockerfile = readFileSync(join(repoRoot, image.dockerfile), 'utf8');
    // The Dockerfile builds its /app with this script, for this package.
    expect(dockerfile).toContain(`scripts/production-tree.sh ${image.package} /out`);
    expect(dockerfile).toContain('COPY --from=build /out /app');
    expect(dockerfile).toMatch(/^USER 65532:65532$/m);
    // The injected sidecar's securityContext runs as the image's user.
    expect(readFileSync(join(repoRoot, 'operator/src/webhook/sidecar.ts'), 'utf8')).toContain(
      'runAsUser: 65532',
    );
    expect(dockerfile).not.toMatch(/^HEALTHCHECK/m);
    const entrypoint = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(dockerfile)?.[1] ?? '[]') as string[];

    const parent = await mkdtemp(join(tmpdir(), 'pgwarden-image-'));
    dirs.push(parent);
    const tree = join(parent, 'app');
    const built = await run(script, [image.package, tree], { cwd: repoRoot, timeoutMs: 180_000 });
    expect(built.code, built.stderr).toBe(0);

    const main = (entrypoint[1] ?? '').replace(/^\/app\//, `${tree}/`);
    expect(existsSync(main), `ENTRYPOINT ${entrypoint.join(' ')} is not in the tree`).toBe(true);
    for (const name of ['src', 'test', 'tsconfig.json']) expect(existsSync(join(tree, name))).toBe(false);
    // COPY takes the tree as it is: a link leading out of it would dangle in the image.
    const escaping = await run('find', [tree, '-type', 'l', '-exec', 'realpath', '-m', '{}', '+']);
    expect(escaping.stdout.split('\n').filter((p) => p !== '' && !p.startsWith(`${tree}/`))).toEqual([]);
    for (const name of image.devOnly) expect(existsSync(join(tree, 'node_modules', name))).toBe(false);

    for (const command of image.commands) {
      const args = command.args.map((a) =>
        a === 'POLICY' ? join(repoRoot, 'examples/policies/read-only.yaml') : a,
      );
      // From a directory outside the repository: nothing resolves from the workspace's node_modules.
      const result = await run(process.execPath, [main, ...args], {
        cwd: parent,
        env: { NODE_ENV: 'production' },
      });
      expect(result.stdout + result.stderr).toMatch(command.expect);
    }
    const du = await run('du', ['-sk', tree]);
    const kib = Number(du.stdout.split('\t')[0]);
    process.stdout.write(
      `${image.package}: production tree ${(kib / 1024).toFixed(1)} MiB (du -sk), plus the distroless Node.js 24 base\n`,
    );
  });
});
