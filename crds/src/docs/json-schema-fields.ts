/**
 * Flattens a JSON Schema (as zod's toJSONSchema emits it) into one row per
 * field, for the field reference. Only the constructs our schemas produce are
 * handled; anything else renders by its JSON Schema `type`.
 */

export interface JsonSchema {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  exclusiveMinimum?: number;
}

export interface FieldRow {
  /** "spec.rules[].match.kinds" */
  path: string;
  type: string;
  required: boolean;
  default: unknown;
  description: string;
}

export function fieldRows(schema: JsonSchema, path = ''): FieldRow[] {
  const rows: FieldRow[] = [];
  const required = new Set(schema.required ?? []);
  for (const [name, field] of Object.entries(schema.properties ?? {})) {
    const fieldPath = path === '' ? name : `${path}.${name}`;
    rows.push({
      path: fieldPath,
      type: typeOf(field),
      required: required.has(name),
      default: field.default,
      description: field.description ?? '',
    });
    if (field.properties && Object.keys(field.properties).length > 0)
      rows.push(...fieldRows(field, fieldPath));
    if (field.items?.properties) rows.push(...fieldRows(field.items, `${fieldPath}[]`));
  }
  return rows;
}

function typeOf(s: JsonSchema): string {
  if (s.const !== undefined) return `\`${String(s.const)}\``;
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  switch (s.type) {
    case 'array':
      return `list of ${s.items ? typeOf(s.items) : 'any'}`;
    case 'integer':
      return s.exclusiveMinimum === 0 ? 'positive integer' : 'integer';
    case 'object':
      if (s.properties && Object.keys(s.properties).length > 0) return 'object';
      if (typeof s.additionalProperties === 'object' && s.additionalProperties.type) {
        return `map of string to ${typeOf(s.additionalProperties)}`;
      }
      return 'object';
    default:
      return s.type ?? 'any';
  }
}
