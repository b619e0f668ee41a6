import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CRD_DEFINITIONS, type CrdDefinition } from '../src/crd/definitions.js';
import { readCommittedManifests, renderCrdManifests } from '../src/crd/generate.js';
import { crdObject } from '../src/crd/manifest.js';
import { type Schema, StructuralSchemaError, toStructural } from '../src/crd/structural.js';

describe('crds/manifests', () => {
  it('is up to date with the schemas (run pnpm generate)', () => {
    const committed = readCommittedManifests();
    const generated = renderCrdManifests();
    expect([...committed.keys()].sort()).toEqual([...generated.keys()].sort());
    for (const [name, content] of generated) expect(committed.get(name), name).toBe(content);
  });
});

/** Every field under `schema` with its path, as kubectl explain walks them. */
function fields(schema: Schema, path: string): [string, Schema][] {
  const out: [string, Schema][] = [];
  for (const [name, field] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) {
    out.push([`${path}.${name}`, field], ...fields(field, `${path}.${name}`));
    const items = field.items as Schema | undefined;
    if (items) out.push(...fields(items, `${path}.${name}[]`));
  }
  return out;
}

describe.each(CRD_DEFINITIONS.map((def) => [def.kind, def] as const))('the %s CRD', (_kind, def) => {
  const root = (crdObject(def).spec as Schema).versions as Schema[];
  const schema = ((root[0] as Schema).schema as Schema).openAPIV3Schema as Schema;

  it('documents every field, so kubectl explain does', () => {
    const undocumented = fields(schema, def.kind)
      .filter(([path, field]) => !path.endsWith('.metadata') && !field.description)
      .map(([path]) => path);
    expect(undocumented).toEqual([]);
  });

  it('gives every field a type (structural schema)', () => {
    const untyped = fields(schema, def.kind)
      .filter(([, field]) => field.type === undefined && !field['x-kubernetes-preserve-unknown-fields'])
      .map(([path]) => path);
    expect(untyped).toEqual([]);
  });

  it('prints columns that point at fields of the schema', () => {
    for (const column of def.printerColumns) {
      const path = column.jsonPath.replace(/\[\?\(.*\)\]/, '[]').replace(/^\./, '');
      const known = fields(schema, '').map(([p]) => p.slice(1));
      // metadata (creationTimestamp, annotations) is the API server's, not in the schema.
      expect(known, column.name).toContain(path.startsWith('metadata.') ? 'metadata' : path);
    }
  });
});

describe('toStructural', () => {
  const convert = (type: z.ZodType) => toStructural(z.toJSONSchema(type, { io: 'input' }) as Schema);

  it('turns const into a one-value enum and exclusive bounds into booleans', () => {
    expect(convert(z.literal('x'))).toMatchObject({ type: 'string', enum: ['x'] });
    expect(convert(z.number().int().positive())).toEqual({
      type: 'integer',
      minimum: 0,
      exclusiveMinimum: true,
    });
  });

  it('marks nullable fields and flattens unions of literals into one enum', () => {
    expect(convert(z.string().nullable())).toEqual({ type: 'string', nullable: true });
    expect(convert(z.union([z.literal('a'), z.literal('b')]))).toEqual({ type: 'string', enum: ['a', 'b'] });
  });

  it('merges a union of objects into one object, requiring what every branch requires', () => {
    const union = z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('a'), a: z.string(), n: z.number() }),
      z.object({ kind: z.literal('b'), b: z.boolean(), n: z.number() }),
    ]);
    expect(convert(union)).toEqual({
      type: 'object',
      properties: {
        kind: { type: 'string', enum: ['a', 'b'] },
        a: { type: 'string' },
        n: { type: 'number' },
        b: { type: 'boolean' },
      },
      required: ['kind', 'n'],
    });
  });

  it('keeps the default of a field only where every branch has it (the API server would apply it to all)', () => {
    const union = z.discriminatedUnion('type', [
      z.object({ type: z.literal('once') }).strict(),
      z.object({
        type: z.literal('fingerprint'),
        duration: z.string().default('1h'),
        n: z.number().default(1),
      }),
      z.object({ type: z.literal('session'), n: z.number().default(1) }),
    ]);
    const merged = convert(union) as { properties: Record<string, Schema> };
    expect(merged.properties.duration).toEqual({ type: 'string' });
    expect(merged.properties.n).toEqual({ type: 'number' });
    const shared = z.discriminatedUnion('type', [
      z.object({ type: z.literal('a'), n: z.number().default(1) }),
      z.object({ type: z.literal('b'), n: z.number().default(1) }),
    ]);
    expect((convert(shared) as { properties: Record<string, Schema> }).properties.n).toEqual({
      type: 'number',
      default: 1,
    });
  });

  it('keeps maps, preserves loose objects, and drops strictness (the API server prunes)', () => {
    expect(convert(z.record(z.string(), z.string()))).toEqual({
      type: 'object',
      additionalProperties: { type: 'string' },
    });
    expect(convert(z.object({}).loose())).toEqual({
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
    });
    expect(convert(z.object({ a: z.string() }).strict())).toEqual({
      type: 'object',
      properties: { a: { type: 'string' } },
      required: ['a'],
    });
  });

  it('refuses what a structural schema cannot say, naming the field', () => {
    const mixed = z.object({ spec: z.object({ v: z.union([z.string(), z.boolean()]) }) });
    expect(() => convert(mixed)).toThrow(StructuralSchemaError);
    expect(() => convert(mixed)).toThrow(/^spec\.v: /);
    expect(() => convert(z.object({ x: z.any() }))).toThrow('x: a field without a type is not structural');
  });
});

describe('extensions', () => {
  it('fail the generator when their field no longer exists', () => {
    const def: CrdDefinition = {
      ...(CRD_DEFINITIONS[0] as CrdDefinition),
      extensions: { 'spec.nowhere[].name': { listMapKeys: ['name'] } },
    };
    expect(() => crdObject(def)).toThrow('extension for spec.nowhere[].name: no such field in the schema');
  });
});
