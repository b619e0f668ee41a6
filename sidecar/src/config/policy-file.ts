import { readFileSync } from 'node:fs';
import { type AgentAccessPolicy, type FieldError, formatFieldError, validatePolicy } from '@pgwarden/crds';
import { type Document, isNode, LineCounter, parseAllDocuments } from 'yaml';
import { ConfigError } from './config-error.js';

/**
 * Reads a standalone policy file: one AgentAccessPolicy document, YAML or JSON
 * (JSON is YAML). Returns the validated, deep-frozen policy, or throws a
 * ConfigError whose lines read `file:line: spec.rules[2].match.kinds[0]: …`.
 */
export function loadPolicyFile(path: string): AgentAccessPolicy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `policy file ${path}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  return parsePolicyText(text, path);
}

/** As loadPolicyFile, for text already read; `source` names it in messages. */
export function parsePolicyText(text: string, source: string): AgentAccessPolicy {
  const lines = new LineCounter();
  // Duplicate keys are errors (the yaml default): a second `action:` must not silently win.
  const documents = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  for (const doc of documents) {
    const error = doc.errors[0];
    if (error) {
      const at = lines.linePos(error.pos[0]);
      throw new ConfigError(`${source}:${at.line}:${at.col}: not valid YAML: ${error.message}`);
    }
  }
  let present: { doc: Document; value: unknown }[];
  try {
    // An empty document (a trailing `---`) is no document.
    present = documents.map((doc) => ({ doc, value: doc.toJS() as unknown })).filter((d) => d.value != null);
  } catch (err) {
    throw new ConfigError(`${source}: ${(err as Error).message}`);
  }
  if (present.length !== 1) {
    throw new ConfigError(
      present.length === 0
        ? `${source}: holds no document; a policy file holds one AgentAccessPolicy`
        : `${source}: holds ${present.length} YAML documents; a policy file holds exactly one AgentAccessPolicy, so split them into separate files`,
    );
  }
  const { doc, value } = present[0] as { doc: Document; value: unknown };
  const result = validatePolicy(value, { standalone: true });
  if (!result.ok) {
    const details = result.errors.map((e) => `${source}${lineOf(doc, lines, e)}: ${formatFieldError(e)}`);
    throw new ConfigError(`${source} is not a valid AgentAccessPolicy:\n${details.join('\n')}`);
  }
  return result.policy;
}

/** ":14" for the YAML line of the field, or of its nearest present parent (a missing field); "" when unknown. */
function lineOf(doc: Document, lines: LineCounter, error: FieldError): string {
  for (let n = error.segments.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(error.segments.slice(0, n), true);
    if (isNode(node) && node.range) return `:${lines.linePos(node.range[0]).line}`;
  }
  return '';
}
