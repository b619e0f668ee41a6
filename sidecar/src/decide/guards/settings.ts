import type { AccessMode, BuiltinRuleName } from '@pgwarden/crds';
import type { SettingChange, StatementFacts } from '../../analyze/facts.js';
import { isUnsafeClientEncoding } from '../client-encodings.js';
import { type Decision, decision, type Guard } from '../decision.js';

const RULE: BuiltinRuleName = 'guarded-setting';

/** The classifier's name for RESET ALL, DISCARD ALL and set_config() with a name that is not a literal. */
const ANY_SETTING = '*';

/** PostgreSQL's time units for statement_timeout; a bare number is milliseconds. */
const TIME_UNIT_MS: Readonly<Record<string, number>> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};
const TIME_VALUE = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$/;

/**
 * guarded-setting: SET, RESET and set_config() of the settings the rest of
 * pgwarden relies on. BEGIN / SET TRANSACTION options (via 'transaction') are
 * left to read-only-access, which knows whether READ WRITE is allowed.
 */
export function settingsGuard(
  access: AccessMode,
  statementTimeoutMs: number | null,
  masking: boolean,
): Guard {
  return (facts) => {
    for (let f: StatementFacts | null = facts; f !== null; f = f.inner) {
      for (const change of f.settings) {
        const message = refusal(change, access, statementTimeoutMs, masking);
        if (message !== null) return deny(message, facts);
      }
    }
    return null;
  };
}

function refusal(
  change: SettingChange,
  access: AccessMode,
  limitMs: number | null,
  masking: boolean,
): string | null {
  switch (change.name) {
    case 'role':
    case 'session_authorization':
      return `changing ${change.name} would change who the session acts as; the role is fixed by the pgwarden grant, so ask for a policy that grants what you need`;
    case 'default_transaction_read_only':
      return 'default_transaction_read_only cannot be changed through pgwarden; the access mode comes from the policy (spec.access)';
    case 'transaction_read_only':
      return change.via === 'transaction'
        ? null
        : 'transaction_read_only cannot be SET through pgwarden; use BEGIN READ ONLY / READ WRITE, which the policy decides';
    case ANY_SETTING:
      return change.via === 'set_config'
        ? 'set_config() with a setting name that is not a literal cannot be checked; write the setting name as a literal'
        : 'RESET ALL and DISCARD ALL would also reset settings pgwarden guards; reset settings one at a time';
    case 'search_path':
      // Table rules match unqualified names by their name part, as the session's default search_path
      // resolves them; under read-only nothing needs another search_path, so it stays as configured.
      return access === 'read-only'
        ? 'search_path cannot be changed under read-only access; schema-qualify names instead (e.g. public.orders)'
        : null;
    case 'statement_timeout':
      return limitMs === null ? null : timeoutRefusal(change, limitMs);
    case 'session_replication_role':
      return 'session_replication_role = replica switches off triggers, foreign-key checks included; it cannot be changed through pgwarden';
    case 'standard_conforming_strings':
    case 'backslash_quote':
      // The classifier reads string literals as PostgreSQL does by default; with backslash
      // escapes in plain strings, 'a\' , $$'; DELETE … would be one statement to it and two to the server.
      return `${change.name} changes how the server reads string literals, so the statement pgwarden checked could differ from the one that runs; it cannot be changed through pgwarden`;
    case 'client_encoding':
      // Masking reads and rewrites character data as UTF-8; the proxy pins UTF8 at startup, so RESET returns to it.
      if (masking && change.value !== null && !isUtf8Name(change.value)) {
        return 'the policy masks columns, which needs client_encoding UTF8; convert to other encodings in the client';
      }
      if (change.value === null) {
        return change.via === 'set_config'
          ? 'client_encoding can only be set to a literal value through pgwarden'
          : null;
      }
      return isUnsafeClientEncoding(change.value)
        ? `client encoding ${change.value} can hide a quote inside a multibyte character, so the statement pgwarden checked could differ from the one that runs; use UTF8`
        : null;
    default:
      return null;
  }
}

/**
 * The proxy pins statement_timeout as a startup parameter, so RESET and SET …
 * TO DEFAULT return to the policy's limit; any other value must be a literal
 * within it. A fraction below 1 ms could round to 0, which disables the timeout.
 */
function timeoutRefusal(change: SettingChange, limitMs: number): string | null {
  if (change.value === null) {
    return change.via === 'set_config'
      ? `statement_timeout can only be set to a literal value of at most ${limitMs}ms (limits.statementTimeout)`
      : null;
  }
  const m = TIME_VALUE.exec(change.value);
  const ms = m ? Number(m[1]) * (TIME_UNIT_MS[m[2] ?? 'ms'] as number) : Number.NaN;
  if (Number.isNaN(ms)) {
    return `statement_timeout ${JSON.stringify(change.value)} is not a value pgwarden can check; use milliseconds or a unit, at most ${limitMs}ms`;
  }
  if (ms < 1) {
    return `statement_timeout 0 would disable the policy's limit of ${limitMs}ms (limits.statementTimeout); set a value of at most ${limitMs}ms`;
  }
  if (ms > limitMs) {
    return `statement_timeout ${change.value} is above the policy's limit of ${limitMs}ms (limits.statementTimeout); set a value of at most ${limitMs}ms`;
  }
  return null;
}

function deny(message: string, facts: StatementFacts): Decision {
  return decision('deny', RULE, message, facts.kind);
}

function isUtf8Name(name: string): boolean {
  const normalised = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  return normalised === 'utf8' || normalised === 'unicode';
}
