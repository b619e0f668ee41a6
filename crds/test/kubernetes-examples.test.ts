import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { DATABASE_CONNECTION_KIND, DatabaseConnectionSchema } from '../src/database-connection.js';
import { fieldErrorMap, formatFieldError, toFieldErrors } from '../src/field-errors.js';
import { AgentAccessPolicySchema, POLICY_KIND } from '../src/policy.js';

const dir = fileURLToPath(new URL('../../examples/kubernetes/', import.meta.url));
const schemas: Record<string, z.ZodType> = {
  [DATABASE_CONNECTION_KIND]: DatabaseConnectionSchema,
  [POLICY_KIND]: AgentAccessPolicySchema,
};

const documents = readdirSync(dir)
  .filter((name) => name.endsWith('.yaml'))
  .flatMap((name) =>
    parseAllDocuments(readFileSync(`${dir}${name}`, 'utf8')).map((doc) => {
      const object = doc.toJS() as { kind: string; metadata: { name: string } };
      return [`${name}: ${object.kind} ${object.metadata.name}`, object] as const;
    }),
  );

// The API server's half (the CRDs accept them) is in e2e/test/crds.test.ts.
describe('examples/kubernetes', () => {
  it('has pgwarden objects of every kind', () => {
    const kinds = new Set(documents.map(([, object]) => object.kind));
    for (const kind of Object.keys(schemas)) expect(kinds).toContain(kind);
  });

  it.each(documents.filter(([, object]) => schemas[object.kind]))('%s is valid', (_name, object) => {
    const result = (schemas[object.kind] as z.ZodType).safeParse(object, { error: fieldErrorMap });
    const errors = result.success ? [] : toFieldErrors(result.error.issues).map(formatFieldError);
    expect(errors).toEqual([]);
  });
});
