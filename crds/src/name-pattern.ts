import { z } from 'zod';
import { describeValue } from './field-errors.js';

/** One or two non-empty parts without white space; quoted identifiers containing "." cannot be written. */
const NAME_PATTERN = /^[^.\s]+(\.[^.\s]+)?$/;

/**
 * A table or function name pattern: "name" or "schema.name", where "*" stands
 * for any run of characters and "?" for one character, within one part.
 */
export const NamePatternSchema = z.string().regex(NAME_PATTERN, {
  error: (issue) =>
    `${describeValue(issue.input)} is not a name pattern; use name or schema.name, with * and ? as wildcards`,
});
