/**
 * Why the recorder cannot take another statement, as the error the proxy
 * sends the client instead of running it. Codes are PostgreSQL SQLSTATEs:
 * 53100 disk_full, 53400 configuration_limit_exceeded, 57P01 admin_shutdown.
 */
export interface RecordingRefusal {
  cause: RefusalCause;
  code: '53100' | '53400' | '57P01';
  message: string;
  hint: string;
}

export type RefusalCause = 'spool-full' | 'write-failed' | 'overload' | 'closed' | 'invalid-session';

export function spoolFull(bytes: number, cap: number, sink: string): RecordingRefusal {
  return {
    cause: 'spool-full',
    code: '53100',
    message: `pgwarden: recording spool is full (${mib(bytes)} of ${mib(cap)}); statements are refused until it drains to the sink`,
    hint: `The sink (${sink}) is not taking chunks fast enough or is unreachable; the sidecar keeps retrying. Retry the statement later.`,
  };
}

export function writeFailed(reason: string): RecordingRefusal {
  return {
    cause: 'write-failed',
    code: '53100',
    message: `pgwarden: cannot write the session recording to the spool (${reason}); statement refused`,
    hint: 'Check the spool volume (free space, permissions); the sidecar keeps retrying.',
  };
}

export function recorderClosed(): RecordingRefusal {
  return {
    cause: 'closed',
    code: '57P01',
    message: 'pgwarden: the session recorder has stopped (the sidecar is shutting down); statement refused',
    hint: 'Reconnect; a new sidecar instance will take the connection.',
  };
}

function mib(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

export function invalidSessionStart(reason: string): RecordingRefusal {
  return {
    cause: 'invalid-session',
    code: '53400',
    message: `pgwarden: this session cannot be recorded (${reason}); statement refused`,
    hint: 'This is a sidecar defect; report it with the sidecar log.',
  };
}
