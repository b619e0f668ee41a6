import { pino } from 'pino';
import pretty from 'pino-pretty';

export type Logger = pino.Logger;
export type LogFormat = 'json' | 'text';

/**
 * One event per line on stdout: JSON, or with format text a readable line
 * (time, level, message, then the fields as JSON). Credentials are kept in
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
      ? // Formatted in this thread and written synchronously: no worker thread, a human reads it anyway.
        pretty({
          destination,
          sync: true,
          colorize: false,
          singleLine: true,
          translateTime: "UTC:yyyy-mm-dd'T'HH:MM:ss.l'Z'",
          ignore: 'pid,hostname,service',
        })
      : typeof destination === 'number'
        ? pino.destination({ fd: destination, sync: false })
        : destination,
  );
}
