import type { RecordingEvent } from '@pgwarden/crds';
import { formatTable } from './table.js';

type EventOf<T extends RecordingEvent['type']> = Extract<RecordingEvent, { type: T }>;

const PAD = '          ';

/**
 * Turns events into a readable transcript, one event at a time (so --follow
 * can print as chunks arrive). Times are offsets from the session start.
 */
export class Transcript {
  private startMs: number | null = null;

  lines(event: RecordingEvent): string[] {
    const t = Date.parse(event.at);
    this.startMs ??= t;
    const stamp = `[+${((t - this.startMs) / 1000).toFixed(3)}s]`;
    switch (event.type) {
      case 'session-start':
        return header(event, stamp);
      case 'statement': {
        const out = [`${stamp} #${event.statementId} ${protocolLabel(event)}: ${oneLine(event.text)}`];
        if (event.parameters.length > 0) {
          out.push(`${PAD}parameters: ${event.parameters.map((p, i) => `$${i + 1}=${quote(p)}`).join(', ')}`);
        }
        return out;
      }
      case 'decision': {
        const f = event.facts;
        const facts = f
          ? ` (${[
              f.kind,
              f.tablesRead.length > 0 ? `reads ${f.tablesRead.join(', ')}` : '',
              f.tablesWritten.length > 0 ? `writes ${f.tablesWritten.join(', ')}` : '',
              f.functions.length > 0 ? `calls ${f.functions.join(', ')}` : '',
            ]
              .filter(Boolean)
              .join('; ')})`
          : '';
        const message = event.outcome !== 'allow' && event.message ? `: ${event.message}` : '';
        return [`${PAD}${event.outcome.toUpperCase()} by rule "${event.rule}"${facts}${message}`];
      }
      case 'rows': {
        const out = formatTable(event.columns, event.rows, '  ');
        const shown = `(${event.rows.length} ${event.rows.length === 1 ? 'row' : 'rows'}`;
        const more = event.truncated
          ? `; ${event.omittedRows > 0 ? `${event.omittedRows} more` : 'more'} not recorded`
          : '';
        out.push(`  ${shown}${more})`);
        if (event.columns.some((c) => c.masked)) out.push('  * masked by pgwarden');
        return out;
      }
      case 'result':
        return [
          `${PAD}${event.commandTag ?? '(no command tag)'} · ${event.rows} rows · ${event.durationMs.toFixed(1)} ms · ${event.bytes} bytes`,
        ];
      case 'error':
      case 'notice': {
        const out = [`${PAD}${event.severity} ${event.code} (${event.source}): ${oneLine(event.message)}`];
        if (event.detail) out.push(`${PAD}  DETAIL: ${oneLine(event.detail)}`);
        if (event.hint) out.push(`${PAD}  HINT: ${oneLine(event.hint)}`);
        return out;
      }
      case 'approval': {
        const parts = [
          event.request ? `request ${event.request}` : '',
          event.approver ? `by ${event.approver}` : '',
          event.reason ? `reason: ${event.reason}` : '',
        ].filter(Boolean);
        return [
          `${stamp} approval ${event.phase} for #${event.statementId}${parts.length ? ` (${parts.join(', ')})` : ''}`,
        ];
      }
      case 'policy-change':
        return [`${stamp} policy changed to ${policyLabel(event.policy)}; the decisions below are under it`];
      case 'gap':
        return [`${stamp} !! ${event.dropped} events not recorded (${event.reason})`];
      case 'session-end': {
        const n = event.totals;
        return [
          `${stamp} session end: ${event.reason}${event.message ? ` (${event.message})` : ''}`,
          `${PAD}${n.statements} statements, ${n.denied} denied, ${n.rows} rows, ${n.errors} errors`,
        ];
      }
    }
  }
}

function header(e: EventOf<'session-start'>, stamp: string): string[] {
  const client = [
    e.clientAddress ?? 'unknown address',
    e.clientUser ? `user "${e.clientUser}"` : '',
    e.applicationName ? `application "${e.applicationName}"` : '',
  ]
    .filter(Boolean)
    .join(' ');
  const lines = [
    `Recording ${e.recordingId}`,
    `  started   ${e.at}   sidecar ${e.sidecarVersion}`,
    `  client    ${client}`,
  ];
  if (e.pod) {
    lines.push(
      `  pod       ${e.pod.namespace}/${e.pod.name}${e.serviceAccount ? ` (service account ${e.serviceAccount})` : ''}`,
    );
  }
  lines.push(
    `  policy    ${policyLabel(e.policy)}`,
    `  upstream  ${e.upstream.user}@${e.upstream.host}:${e.upstream.port}/${e.upstream.database}`,
    `  rows      ${e.rows.included ? `up to ${e.rows.capPerStatement} per result` : 'not recorded'}`,
    '',
    `${stamp} session start`,
  );
  return lines;
}

function policyLabel(policy: { name: string; hash: string }): string {
  return `${policy.name} sha256:${policy.hash.slice(0, 12)}…`;
}

function protocolLabel(e: EventOf<'statement'>): string {
  return e.protocol === 'prepared' && e.preparedName ? `prepared "${e.preparedName}"` : e.protocol;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

function quote(value: string | null): string {
  return value === null ? 'NULL' : `'${value.replace(/'/g, "''")}'`;
}
