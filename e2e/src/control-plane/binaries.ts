import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The programs e2e/control-plane/build.sh builds from Go modules. */
export type ControlPlaneProgram = 'etcd' | 'kube-apiserver' | 'kubectl' | 'helm';

// Same path from e2e/src/control-plane (vitest) and e2e/dist/control-plane.
const buildScript = fileURLToPath(new URL('../../control-plane/build.sh', import.meta.url));

let located: Promise<string> | undefined;

/**
 * The bin directory of the test control plane. Runs build.sh, which returns at
 * once when its cache is fresh and otherwise compiles everything from Go
 * modules (~5 min on 2 cores, once per machine); its progress goes to our
 * stderr. Concurrent callers in other processes wait on build.sh's lock.
 */
export function controlPlaneBinDir(): Promise<string> {
  located ??= build().catch((error: unknown) => {
    located = undefined;
    throw error;
  });
  return located;
}

/** Absolute path of one control-plane program. */
export async function controlPlaneBin(name: ControlPlaneProgram): Promise<string> {
  const path = join(await controlPlaneBinDir(), name);
  if (!existsSync(path)) throw new Error(`${path} is missing although build.sh reported success`);
  return path;
}

function build(): Promise<string> {
  return new Promise((resolve, reject) => {
    // build.sh reports progress and errors on stderr, the bin directory on stdout.
    const child = spawn(buildScript, [], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const dir = stdout.trim();
      if (code === 0 && dir !== '') resolve(dir);
      else reject(new Error(`${buildScript} failed (${code ?? signal}); its messages are above`));
    });
  });
}
