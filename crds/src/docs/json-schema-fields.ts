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
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
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
    const variants = taggedVariants(field);
    if (variants) rows.push(...variantRows(variants, fieldPath));
  }
  return rows;
}

interface TaggedVariants {
  tag: string;
  branches: { value: string; schema: JsonSchema }[];
}

/** A discriminated union of objects (every branch fixes one field to a constant), e.g. a sink by `type`. */
function taggedVariants(s: JsonSchema): TaggedVariants | null {
  const branches = s.oneOf ?? s.anyOf;
  if (!branches || branches.length < 2 || !branches.every((b) => b.properties)) return null;
  const first = branches[0]?.properties ?? {};
  const tag = Object.keys(first).find((name) =>
    branches.every((b) => b.properties?.[name]?.const !== undefined),
  );
  if (tag === undefined) return null;
  return {
    tag,
    branches: branches.map((b) => ({ value: String(b.properties?.[tag]?.const), schema: b })),
  };
}

/** The tag as one row listing its values, then each branch's own fields, marked with the tag value they need. */
function variantRows({ tag, branches }: TaggedVariants, path: string): FieldRow[] {
  const rows: FieldRow[] = [
    {
      path: `${path}.${tag}`,
      type: branches.map((b) => `\`${b.value}\``).join(' \\| '),
      required: branches.every((b) => b.schema.required?.includes(tag)),
      default: undefined,
      description: branches[0]?.schema.properties?.[tag]?.description ?? '',
    },
  ];
  for (const { value, schema } of branches) {
    const { [tag]: _tag, ...own } = schema.properties ?? {};
    for (const row of fieldRows({ ...schema, properties: own }, path)) {
      rows.push({ ...row, description: `With ${tag} \`${value}\`. ${row.description}`.trim() });
    }
  }
  return rows;
}

function typeOf(s: JsonSchema): string {
  if (s.const !== undefined) return `\`${String(s.const)}\``;
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  if (taggedVariants(s)) return 'object';
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
