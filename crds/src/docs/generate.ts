import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { replaceGeneratedBlocks } from './markdown-blocks.js';
import { policyReferenceBlocks } from './policy-reference.js';

/**
 * `pnpm generate`: rewrites the generated blocks of the docs from the schemas.
 * The same path works from crds/src/docs (tests) and crds/dist/docs (the script).
 */
export const POLICY_DOC = fileURLToPath(new URL('../../../docs/policy.md', import.meta.url));

export function regeneratePolicyDoc(current: string): string {
  return replaceGeneratedBlocks(current, policyReferenceBlocks());
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const current = readFileSync(POLICY_DOC, 'utf8');
  const next = regeneratePolicyDoc(current);
  if (next !== current) writeFileSync(POLICY_DOC, next);
  process.stdout.write(`${next === current ? 'unchanged' : 'updated'}: ${POLICY_DOC}\n`);
}
