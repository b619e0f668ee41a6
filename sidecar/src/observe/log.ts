import { type LogFormat, textLogOptions } from '@pgwarden/crds';
import { pino } from 'pino';
import pretty from 'pino-pretty';

export type Logger = pino.Logger;

/**
 * One event per line on stdout: JSON, or with format text a readable line
 * (crds' textLogOptions). Credentials are kept in
 * Secret objects, which serialize as "[redacted]", and redaction runs before
 * either format sees the event.
 */
export function createLogger(
  level: string,
  destination: pino.DestinationStream | number = 1,
  format: LogFormat = 'json',
): Logger {
  return pino(
    {
      level,
      base: { service: 'pgwarden-sidecar' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['password', '*.password', 'upstream.password'], censor: '[redacted]' },
    },
    format === 'text'
      ? pretty({ ...textLogOptions(['service']), destination })
      : typeof destination === 'number'
        ? pino.destination({ fd: destination, sync: false })
        : destination,
  );
}
