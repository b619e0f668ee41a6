import type { BuiltinRuleName } from '@pgwarden/crds';
import type { StatementFacts } from '../../analyze/facts.js';
import { decision, type Guard } from '../decision.js';

/** copy-server-file: COPY runs server-side file and program access as the database server's OS user. */
export const copyGuard: Guard = (facts) => {
  for (let f: StatementFacts | null = facts; f !== null; f = f.inner) {
    if (f.copy !== null && f.copy.target !== 'stdio') {
      const what = f.copy.target === 'program' ? 'a program on' : 'a file on';
      return decision(
        'deny',
        'copy-server-file' satisfies BuiltinRuleName,
        `COPY ${f.copy.direction} ${what} the database server is never allowed; use COPY … TO STDOUT or FROM STDIN (psql's \\copy) instead`,
        facts.kind,
      );
    }
  }
  return null;
};
