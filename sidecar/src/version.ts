import { readFileSync } from 'node:fs';

/** The sidecar's version, from its package.json (src/ and dist/ both sit one level below it). */
export function sidecarVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
