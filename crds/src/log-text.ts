/** How the operator and the sidecar print their log events: JSON lines (default) or readable text. */
export const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
/** The sidecar's log levels (pino's): its --log-level, which the operator's --sidecar-log-level passes on. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/**
 * C0 and C1 control characters as escapes (\n, \u009b): a raw newline would
 * start a line of its own, with which an agent could forge a log event.
 */
function escapeControl(text: string): string {
  let out = '';
  for (const c of text) {
    const code = c.charCodeAt(0);
    if (code < 0x20) out += JSON.stringify(c).slice(1, -1);
    else if (code >= 0x7f && code <= 0x9f) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += c;
  }
  return out;
}

/** What the line shows before the message, or leaves out. */
const NOT_FIELDS = new Set(['level', 'time', 'pid', 'hostname']);

/**
 * pino-pretty's options for `text`: one line per event,
 * `[2026-01-01T12:00:00.000Z] INFO: message {"field":"value"}`. The line is
 * built here (pino-pretty's own layout puts error fields on lines of their
 * own): the fields stay JSON, so escaped; control characters in the message
 * are escaped too. `omit` drops fields every event has (e.g. the service
 * name). Written synchronously from the logging thread: no worker thread.
 */
export function textLogOptions(omit: readonly string[] = []) {
  return {
    sync: true,
    colorize: false,
    translateTime: "UTC:yyyy-mm-dd'T'HH:MM:ss.l'Z'",
    hideObject: true,
    messageFormat: (log: Record<string, unknown>, messageKey: string) => {
      const fields = Object.entries(log).filter(
        ([key]) => key !== messageKey && !NOT_FIELDS.has(key) && !omit.includes(key),
      );
      const message = escapeControl(String(log[messageKey] ?? ''));
      return fields.length === 0 ? message : `${message} ${JSON.stringify(Object.fromEntries(fields))}`;
    },
  };
}
