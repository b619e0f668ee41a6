import { describe, expect, it } from 'vitest';
import { ErrorSubstitution } from '../../src/enforce/substitution.js';
import { FrontendCode } from '../../src/wire/codes.js';
import { decodeErrorFields, encodeErrorResponse, PgError } from '../../src/wire/error-response.js';

const denied = new PgError({ severity: 'ERROR', code: '42501', message: 'pgwarden: denied by rule "x": no' });

/** What PostgreSQL answers a stand-in with. */
function syntaxError(token: string): Buffer {
  return encodeErrorResponse({
    severity: 'ERROR',
    code: '42601',
    message: `syntax error at or near "${token}"`,
  });
}

function tokenOf(standIn: Buffer): string {
  const body = standIn.toString('utf8', 5, standIn.length);
  const match = /pgwarden_refused_\d+/.exec(body);
  if (!match) throw new Error('no token in stand-in');
  return match[0];
}

const fields = (b: Buffer) => decodeErrorFields(b, 0, b.length);

describe('ErrorSubstitution', () => {
  it('swaps the stand-in Query error for the refusal and leaves other errors alone', () => {
    const s = new ErrorSubstitution();
    s.countReadyProducer(); // an allowed Query before it
    const standIn = s.standInQuery(denied);
    expect(standIn[0]).toBe(FrontendCode.Query);
    const unrelated = encodeErrorResponse({ severity: 'ERROR', code: '22012', message: 'division by zero' });
    expect(s.replacementFor(unrelated, 0, unrelated.length)).toBeNull();
    s.readyForQuery(); // the allowed Query's ReadyForQuery
    const own = syntaxError(tokenOf(standIn));
    const replaced = s.replacementFor(own, 0, own.length);
    expect(replaced && fields(replaced).get('C')).toBe('42501');
    s.readyForQuery();
    expect(s.idle).toBe(true);
  });

  it('keeps the statement name of a refused Parse', () => {
    const s = new ErrorSubstitution();
    const standIn = s.standInParse('stmt_7', denied);
    expect(standIn[0]).toBe(FrontendCode.Parse);
    expect(standIn.toString('utf8', 5, 5 + 'stmt_7'.length)).toBe('stmt_7');
  });

  it('drops a stand-in the server skipped because an earlier message of the batch failed', () => {
    const s = new ErrorSubstitution();
    const standIn = s.standInParse('', denied);
    s.countReadyProducer(); // the batch's Sync
    const earlier = encodeErrorResponse({ severity: 'ERROR', code: '22012', message: 'division by zero' });
    expect(s.replacementFor(earlier, 0, earlier.length)).toBeNull();
    s.readyForQuery();
    expect(s.idle).toBe(true);
    const late = syntaxError(tokenOf(standIn));
    expect(s.replacementFor(late, 0, late.length)).toBeNull();
  });
});
