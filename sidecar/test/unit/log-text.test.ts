import { describe, expect, it } from 'vitest';
import { Secret } from '../../src/config/secret.js';
import { createLogger } from '../../src/observe/log.js';
import { LogCapture } from '../integration/helpers.js';

// --log-format text: the same events as JSON, one readable line each, whatever
// the event holds (errors, newlines, credentials).

const LINE = /^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): /;

function textLog() {
  const out = new LogCapture();
  const log = createLogger('trace', out, 'text');
  return { log, lines: () => out.text.split('\n').filter((l) => l !== '') };
}

describe('text log format', () => {
  it('prints time, level, message and the fields as JSON on one line', () => {
    const { log, lines } = textLog();
    log.info({ conn: 1, client: '127.0.0.1:50130' }, 'session started');
    log.warn('no policy');
    expect(lines()).toHaveLength(2);
    expect(lines()[0]).toMatch(LINE);
    expect(lines()[0]).toMatch(/ INFO: session started \{"conn":1,"client":"127\.0\.0\.1:50130"\}$/);
    expect(lines()[1]).toMatch(/ WARN: no policy$/);
  });

  it('keeps errors and multi-line values on the line of their event', () => {
    const { log, lines } = textLog();
    const error = new Error('connect ECONNREFUSED\nsecond line');
    log.error({ error: String(error), err: error, sql: 'select 1;\nselect 2' }, 'upstream failed');
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatch(LINE);
    expect(lines()[0]).toContain('"sql":"select 1;\\nselect 2"');
  });

  it('escapes control characters in a message, so no text can forge a line of its own', () => {
    const { log, lines } = textLog();
    log.warn('refused\n[2026-01-01T00:00:00.000Z] INFO: approved by admin\u001b[2K');
    expect(lines()).toEqual([expect.stringMatching(LINE)]);
    expect(lines()[0]).toMatch(
      / WARN: refused\\n\[2026-01-01T00:00:00\.000Z\] INFO: approved by admin\\u001b\[2K$/,
    );
  });

  it('redacts credentials as the JSON format does', () => {
    const { log, lines } = textLog();
    log.info(
      { password: 'hunter2', upstream: { password: 'hunter3' }, credential: new Secret('hunter4') },
      'x',
    );
    const line = lines()[0] ?? '';
    for (const secret of ['hunter2', 'hunter3', 'hunter4']) expect(line).not.toContain(secret);
    expect(line).toContain('"password":"[redacted]"');
  });
});
