/**
 * Generated parts of a hand-written Markdown file live between
 *   <!-- BEGIN GENERATED name (pnpm generate) -->
 *   <!-- END GENERATED name -->
 * so prose and generated reference sit side by side in one file.
 */

const BLOCK = /(<!-- BEGIN GENERATED ([a-z-]+) \(pnpm generate\) -->\n)[\s\S]*?(<!-- END GENERATED \2 -->)/g;

/** Returns `doc` with each named block's content replaced; throws when a block is missing or unknown. */
export function replaceGeneratedBlocks(doc: string, blocks: Readonly<Record<string, string>>): string {
  const seen = new Set<string>();
  const out = doc.replace(BLOCK, (_all, begin: string, name: string, end: string) => {
    const content = blocks[name];
    if (content === undefined) throw new Error(`generated block "${name}" has no generator`);
    seen.add(name);
    return `${begin}${content.endsWith('\n') ? content : `${content}\n`}${end}`;
  });
  const missing = Object.keys(blocks).filter((name) => !seen.has(name));
  if (missing.length > 0) throw new Error(`markers for generated block(s) ${missing.join(', ')} not found`);
  return out;
}
