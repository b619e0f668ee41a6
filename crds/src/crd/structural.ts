/**
 * Turns the JSON Schema (draft 2020-12) that zod's toJSONSchema emits into a
 * Kubernetes structural schema (OpenAPI v3.0 subset of apiextensions.k8s.io/v1):
 * every node has a type, no const, no $ref, no additionalProperties:false,
 * exclusive bounds as booleans, nullable instead of `null` branches, and
 * unions of objects flattened into one object (the API server cannot prune
 * against a union). Anything else throws with the field path, so a construct
 * added to a schema is never silently dropped from the CRD.
 */

export type Schema = { [key: string]: unknown };

/** Keys copied unchanged: they mean the same in both dialects. */
const PASSTHROUGH = new Set([
  'type',
  'description',
  'default',
  'enum',
  'format',
  'pattern',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'minimum',
  'maximum',
  'uniqueItems',
  'title',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-int-or-string',
]);

/** Keys handled below; anything outside both sets is an error. */
const HANDLED = new Set([
  '$schema',
  'properties',
  'required',
  'additionalProperties',
  'propertyNames',
  'items',
  'const',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'anyOf',
  'oneOf',
]);

/** Formats the API server validates; others (zod's "email", "uuid"…) keep only their pattern. */
const KUBERNETES_FORMATS = new Set([
  'date-time',
  'date',
  'byte',
  'int32',
  'int64',
  'uri',
  'uuid',
  'hostname',
]);

export class StructuralSchemaError extends Error {}

export function toStructural(schema: Schema, path = ''): Schema {
  const at = path === '' ? '(root)' : path;
  for (const key of Object.keys(schema)) {
    if (!PASSTHROUGH.has(key) && !HANDLED.has(key)) {
      throw new StructuralSchemaError(`${at}: JSON Schema keyword "${key}" has no CRD equivalent`);
    }
  }
  const branches = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (branches) return fromUnion(schema, branches, path);

  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (PASSTHROUGH.has(key)) out[key] = value;
  }
  if (Array.isArray(out.type) && out.type.length === 2 && out.type.includes('null')) {
    out.type = out.type.find((t) => t !== 'null');
    out.nullable = true;
  }
  if (Array.isArray(out.type)) {
    throw new StructuralSchemaError(
      `${at}: a field of several types (${out.type.join(', ')}) is not structural`,
    );
  }
  if (schema.const !== undefined) {
    out.enum = [schema.const];
    out.type ??= jsonType(schema.const, at);
  }
  if (typeof schema.exclusiveMinimum === 'number') {
    out.minimum = schema.exclusiveMinimum;
    out.exclusiveMinimum = true;
  }
  if (typeof schema.exclusiveMaximum === 'number') {
    out.maximum = schema.exclusiveMaximum;
    out.exclusiveMaximum = true;
  }
  // zod bounds every integer to the safe range; the API server stores int64 and needs no such bound.
  if (out.type === 'integer' && out.maximum === Number.MAX_SAFE_INTEGER) delete out.maximum;
  if (out.type === 'integer' && out.minimum === Number.MIN_SAFE_INTEGER) delete out.minimum;
  if (typeof out.format === 'string' && !KUBERNETES_FORMATS.has(out.format)) delete out.format;
  // zod adds its own RFC 3339 pattern to date-times; the format already says it.
  if (out.format === 'date-time') delete out.pattern;

  switch (out.type) {
    case 'object':
      objectFields(schema, out, path);
      break;
    case 'array':
      if (!schema.items) throw new StructuralSchemaError(`${at}: a list needs an item schema`);
      out.items = toStructural(schema.items as Schema, `${path}[]`);
      break;
    case undefined:
      if (!out['x-kubernetes-preserve-unknown-fields'] && !out['x-kubernetes-int-or-string']) {
        throw new StructuralSchemaError(`${at}: a field without a type is not structural`);
      }
      break;
  }
  return ordered(out);
}

/** Keys in the order a reader scans a field: what it is, what it holds, then its rules. */
const ORDER = [
  'description',
  'type',
  'format',
  'enum',
  'default',
  'nullable',
  'properties',
  'additionalProperties',
  'items',
  'required',
];

function ordered(schema: Schema): Schema {
  const rank = (key: string) => {
    const i = ORDER.indexOf(key);
    return i === -1 ? ORDER.length + (key.startsWith('x-kubernetes') ? 1 : 0) : i;
  };
  return Object.fromEntries(Object.entries(schema).sort(([a], [b]) => rank(a) - rank(b)));
}

function objectFields(schema: Schema, out: Schema, path: string): void {
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const extra = schema.additionalProperties;
  const names = Object.keys(properties);
  if (names.length > 0) {
    out.properties = Object.fromEntries(
      names.map((name) => [name, toStructural(properties[name] as Schema, join(path, name))]),
    );
    const required = (schema.required ?? []) as string[];
    if (required.length > 0) out.required = required;
    if (typeof extra === 'object' && extra !== null && Object.keys(extra).length > 0) {
      throw new StructuralSchemaError(`${path}: fixed fields and a map in one object are not structural`);
    }
    // additionalProperties:false (a strict object) needs nothing: the API server
    // prunes or, with field validation Strict (kubectl's default), refuses unknown fields.
    if (extra !== undefined && extra !== false) out['x-kubernetes-preserve-unknown-fields'] = true;
  } else if (typeof extra === 'object' && extra !== null && Object.keys(extra).length > 0) {
    out.additionalProperties = toStructural(extra as Schema, `${path}.*`);
  } else if (extra !== false) {
    // A loose object with no fields (z.object({}).loose(), z.record(z.string(), z.unknown())).
    out['x-kubernetes-preserve-unknown-fields'] = true;
  }
}

/**
 * `T | null` becomes nullable; a union of literals becomes one enum; a union of
 * objects becomes one object with every branch's fields (required: those all
 * branches require). The union's own rules are the zod schema's to enforce.
 */
function fromUnion(schema: Schema, branches: Schema[], path: string): Schema {
  const at = path === '' ? '(root)' : path;
  const { anyOf: _a, oneOf: _o, ...rest } = schema;
  const nonNull = branches.filter((b) => b.type !== 'null');
  const nullable = nonNull.length < branches.length;
  const converted = nonNull.map((b) => toStructural(b, path));
  let merged: Schema;
  if (converted.length === 1) {
    merged = converted[0] as Schema;
  } else if (converted.every((b) => b.enum !== undefined && b.type === converted[0]?.type)) {
    merged = { type: converted[0]?.type, enum: converted.flatMap((b) => b.enum as unknown[]) };
  } else if (converted.every((b) => b.type === 'object')) {
    merged = mergeObjects(converted, path);
  } else if (new Set(converted.map((b) => b.type)).size === 1) {
    merged = { type: converted[0]?.type };
  } else {
    throw new StructuralSchemaError(
      `${at}: a union of ${converted.map((b) => String(b.type)).join(' and ')} is not structural`,
    );
  }
  const out: Schema = { ...merged };
  // The union's own keywords (description, default, validations) on top of the merged branches.
  for (const [key, value] of Object.entries(rest)) {
    if (PASSTHROUGH.has(key)) out[key] = value;
  }
  if (nullable) out.nullable = true;
  return ordered(out);
}

function mergeObjects(objects: Schema[], path: string): Schema {
  const properties: Record<string, Schema> = {};
  for (const object of objects) {
    for (const [name, field] of Object.entries((object.properties ?? {}) as Record<string, Schema>)) {
      const seen = properties[name];
      if (seen === undefined) properties[name] = field;
      else if (seen.type !== field.type) {
        throw new StructuralSchemaError(`${join(path, name)}: union branches disagree on the field's type`);
      } else if (seen.enum && field.enum) {
        properties[name] = {
          ...seen,
          enum: [...new Set([...(seen.enum as unknown[]), ...(field.enum as unknown[])])],
        };
      }
    }
  }
  // A default of a field only some branches have would be applied to every branch by the API server,
  // and the branches without it refuse it (scope { type: once } got duration: 1h): zod applies those.
  for (const [name, field] of Object.entries(properties)) {
    if (field.default === undefined) continue;
    if (objects.every((o) => name in ((o.properties ?? {}) as Record<string, Schema>))) continue;
    const { default: _, ...withoutDefault } = field;
    properties[name] = withoutDefault;
  }
  const [first, ...others] = objects.map((o) => (o.required ?? []) as string[]);
  const requiredByAll = (first ?? []).filter((name) => others.every((required) => required.includes(name)));
  const out: Schema = { type: 'object', properties };
  if (requiredByAll.length > 0) out.required = requiredByAll;
  return out;
}

function jsonType(value: unknown, at: string): string {
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'number':
      return Number.isInteger(value) ? 'integer' : 'number';
    default:
      throw new StructuralSchemaError(`${at}: constant ${JSON.stringify(value)} has no CRD type`);
  }
}

function join(path: string, name: string): string {
  return path === '' ? name : `${path}.${name}`;
}
