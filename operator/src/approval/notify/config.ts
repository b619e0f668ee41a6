import { readFile } from 'node:fs/promises';
import {
  fieldErrorMap,
  formatFieldError,
  type NotificationsConfig,
  NotificationsConfigSchema,
  toFieldErrors,
} from '@pgwarden/crds';
import { parse } from 'yaml';

/** Reads and validates the --notifications file (YAML or JSON) once, at start: a bad file stops the operator. */
export async function loadNotificationsConfig(path: string): Promise<NotificationsConfig> {
  let document: unknown;
  try {
    document = parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new Error(`--notifications ${path}: ${(error as Error).message}`);
  }
  const result = NotificationsConfigSchema.safeParse(document, { error: fieldErrorMap });
  if (!result.success) {
    const errors = toFieldErrors(result.error.issues).map(formatFieldError);
    throw new Error(`--notifications ${path} is not valid: ${errors.join('; ')}`);
  }
  return result.data;
}
