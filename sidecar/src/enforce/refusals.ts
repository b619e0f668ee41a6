import type { StatementFacts } from '../analyze/facts.js';
import { PgError } from '../wire/error-response.js';

/** What the policy engine said about a refused message. */
export interface Refusal {
  outcome: 'deny' | 'approve';
  rule: string;
  message: string;
}

/** The error a client sees for a refused statement: SQLSTATE 42501, the rule named, what to do next. */
export function refusalError(refusal: Refusal, facts: StatementFacts | null): PgError {
  const detail = facts ? describeFacts(facts) : undefined;
  if (refusal.outcome === 'approve') {
    return new PgError({
      severity: 'ERROR',
      code: '42501',
      message: `pgwarden: statement needs approval by rule "${refusal.rule}": ${refusal.message}`,
      detail,
      hint: 'The policy has no spec.approval, so no one can approve it and the statement was not run. Ask the policy owner, or run it another way.',
    });
  }
  return new PgError({
    severity: 'ERROR',
    code: '42501',
    message: `pgwarden: denied by rule "${refusal.rule}": ${refusal.message}`,
    detail,
    hint: 'The statement was not sent to the database. Change the statement, or ask the owner of the pgwarden policy to allow it.',
  });
}

export function parseError(message: string, position: number | null): PgError {
  return new PgError({
    severity: 'ERROR',
    code: '42601',
    message: `pgwarden: statement refused because it does not parse: ${message}`,
    detail: position ? `at character ${position}` : undefined,
    hint: 'pgwarden decides from the parsed statement, so SQL it cannot parse is never sent. Fix the syntax.',
  });
}

export function unclassifiedError(message: string): PgError {
  return new PgError({
    severity: 'ERROR',
    code: '42501',
    message: `pgwarden: statement refused: ${message}`,
    hint: 'pgwarden refuses statement types it cannot classify (fail closed). Report this to the pgwarden maintainers.',
  });
}

export function unknownPreparedError(name: string): PgError {
  return new PgError({
    severity: 'ERROR',
    code: '26000',
    message: `pgwarden: prepared statement "${name}" was not prepared through pgwarden, so it cannot be decided`,
    hint: 'PREPARE it in this session first.',
  });
}

export function functionCallError(oid: number): PgError {
  return new PgError({
    severity: 'ERROR',
    code: '42501',
    message: `pgwarden: denied by rule "function-call-protocol": the function with OID ${oid} called by a FunctionCall message could not be identified`,
    hint: 'pgwarden decides a FunctionCall by the function it calls; call it from a SELECT instead, or check that the function exists.',
  });
}

export function rateLimitError(perMinute: number, retryMs: number): PgError {
  return new PgError({
    severity: 'ERROR',
    code: '53400',
    message: `pgwarden: query rate limit of ${perMinute} per minute reached (policy limits.queriesPerMinute)`,
    hint: `Retry in ${Math.max(1, Math.ceil(retryMs / 1000))} s; the budget refills continuously.`,
  });
}

function describeFacts(f: StatementFacts): string {
  const parts = [`statement kind: ${f.kind} (${f.nodeType})`];
  if (f.tablesWritten.length > 0) parts.push(`tables written: ${f.tablesWritten.join(', ')}`);
  if (f.tablesRead.length > 0) parts.push(`tables read: ${f.tablesRead.join(', ')}`);
  if (f.functions.length > 0) parts.push(`functions: ${f.functions.join(', ')}`);
  return parts.join('; ');
}
