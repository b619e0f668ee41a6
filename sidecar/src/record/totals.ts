import type { RecordingEvent, SessionTotals } from '@pgwarden/crds';

export function emptyTotals(): SessionTotals {
  return { statements: 0, denied: 0, rows: 0, errors: 0 };
}

/** Adds one event to running totals, in place: the same rule for live sessions and for recovery. */
export function countEvent(totals: SessionTotals, event: RecordingEvent): void {
  switch (event.type) {
    case 'statement':
      totals.statements += 1;
      break;
    case 'decision':
      if (event.outcome === 'deny') totals.denied += 1;
      break;
    case 'result':
      totals.rows += event.rows;
      break;
    case 'error':
      totals.errors += 1;
      break;
    default:
      break;
  }
}
