import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_GROUP } from '../api-group.js';
import { CRD_DEFINITIONS } from './definitions.js';
import { crdYaml } from './manifest.js';

/**
 * `pnpm generate`: writes one CustomResourceDefinition per kind into
 * crds/manifests (what `kubectl apply -f` and the Helm chart take). The same
 * path works from crds/src/crd (tests) and crds/dist/crd (the script).
 */
export const MANIFESTS_DIR = fileURLToPath(new URL('../../manifests/', import.meta.url));

/** File name → content, as controller-gen names CRD files. */
export function renderCrdManifests(): Map<string, string> {
  return new Map(
    CRD_DEFINITIONS.map((def) => [`${API_GROUP}_${def.plural}.yaml`, crdYaml(def, 'crds/src (zod schemas)')]),
  );
}

/** The committed files, for comparison with {@link renderCrdManifests}. */
export function readCommittedManifests(dir = MANIFESTS_DIR): Map<string, string> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith('.yaml'));
  } catch {
    return new Map();
  }
  return new Map(names.sort().map((name) => [name, readFileSync(join(dir, name), 'utf8')]));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const next = renderCrdManifests();
  const current = readCommittedManifests();
  mkdirSync(MANIFESTS_DIR, { recursive: true });
  for (const name of current.keys()) {
    if (!next.has(name)) rmSync(join(MANIFESTS_DIR, name));
  }
  for (const [name, content] of next) {
    if (current.get(name) !== content) writeFileSync(join(MANIFESTS_DIR, name), content);
    const state = current.get(name) === content ? 'unchanged' : 'updated';
    process.stdout.write(`${state}: ${join(MANIFESTS_DIR, name)}\n`);
  }
}
