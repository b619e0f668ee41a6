import type { z } from 'zod';

/** One validation failure, pointed at the field: what a CLI prints and a webhook returns. */
export interface FieldError {
  /** "spec.rules[2].match.kinds[0]"; empty for the document as a whole. */
  path: string;
  /** The same path as keys, e.g. ['spec', 'rules', 2], to find the field in the source document. */
  segments: (string | number)[];
  message: string;
}

/** ['spec', 'rules', 2, 'match'] → "spec.rules[2].match": the notation of kubectl and the API server. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

export function formatFieldError(error: FieldError): string {
  return error.path === '' ? error.message : `${error.path}: ${error.message}`;
}

/** A received value as a message shows it: strings quoted, everything else by its type. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeName(value);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return typeof value;
}

/** zod issues → field errors; an unknown-keys issue becomes one error per key, pointing at the key. */
export function toFieldErrors(issues: readonly z.core.$ZodIssue[]): FieldError[] {
  const errors: FieldError[] = [];
  for (const issue of issues) {
    const segments = issue.path.map((key) => (typeof key === 'number' ? key : String(key)));
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        errors.push({
          path: formatPath([...segments, key]),
          segments: [...segments, key],
          message: 'unknown field',
        });
      }
    } else {
      errors.push({ path: formatPath(segments), segments, message: issue.message });
    }
  }
  return errors;
}

/**
 * Messages for zod's generic issues in the words of a configuration file.
 * Passed per parse, so messages a schema sets itself (enums, patterns) win.
 */
export const fieldErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      if (issue.expected === 'int') return `must be a whole number, got ${describeValue(issue.input)}`;
      return `must be ${article(issue.expected)}, got ${describeValue(issue.input)}`;
    case 'invalid_value':
      return issue.values.length === 1
        ? `must be ${JSON.stringify(issue.values[0])}, got ${describeValue(issue.input)}`
        : `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(issue.input)}`;
    case 'too_small':
      return bound('at least', issue.origin, issue.minimum, issue.inclusive);
    case 'too_big':
      return bound('at most', issue.origin, issue.maximum, issue.inclusive);
    case 'unrecognized_keys':
      return 'unknown field';
    case 'invalid_union':
      return 'matches none of the allowed shapes';
    default:
      return undefined;
  }
};

function article(expected: string): string {
  switch (expected) {
    case 'object':
      return 'an object';
    case 'array':
      return 'a list';
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    default:
      return expected;
  }
}

function bound(
  relation: 'at least' | 'at most',
  origin: string,
  limit: number | bigint | Date,
  inclusive: boolean | undefined,
): string {
  const n = Number(limit);
  switch (origin) {
    case 'array':
      return n === 1 && relation === 'at least' ? 'must not be empty' : `must list ${relation} ${n} items`;
    case 'string':
      return n === 1 && relation === 'at least' ? 'must not be empty' : `must be ${relation} ${n} characters`;
    default:
      if (inclusive === false) return `must be ${relation === 'at least' ? 'greater' : 'less'} than ${n}`;
      return `must be ${relation} ${n}`;
  }
}
