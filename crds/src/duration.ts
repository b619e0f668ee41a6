import { z } from 'zod';
import { describeValue } from './field-errors.js';

const DURATION = /^([1-9][0-9]*)(ms|s|m|h)$/;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** PostgreSQL keeps statement_timeout in a signed 32-bit count of milliseconds. */
export const MAX_STATEMENT_TIMEOUT_MS = 2_147_483_647;

/** "30s" → 30000; null when the text is not a duration. */
export function parseDurationMs(text: string): number | null {
  const m = DURATION.exec(text);
  if (!m) return null;
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number);
}

/** A positive duration as text, e.g. "500ms", "30s", "5m", "1h"; kept as text in the spec so it reads as written. */
export const DurationSchema = z
  .string()
  .regex(DURATION, {
    error: (issue) =>
      `${describeValue(issue.input)} is not a duration; use a positive whole number with ms, s, m or h, e.g. 30s`,
  })
  .refine((text) => (parseDurationMs(text) ?? 0) <= MAX_STATEMENT_TIMEOUT_MS, {
    error: `is longer than PostgreSQL allows (${MAX_STATEMENT_TIMEOUT_MS}ms, about 24 days)`,
  });
