import { maskText, type SpanStrategy } from './strategies.js';

/** A range of a JS string in UTF-16 code units, end exclusive: text.slice(start, end). */
export interface Span {
  readonly start: number;
  readonly end: number;
}

/** The shared empty result: finding nothing, the common case, allocates nothing. */
export const NO_SPANS: readonly Span[] = Object.freeze([]);

/** Appends a span to a detector's list, creating the list for the first one. */
export function withSpan(spans: Span[] | undefined, span: Span): Span[] {
  if (spans === undefined) return [span];
  spans.push(span);
  return spans;
}

/**
 * Spans sorted by start, with overlapping and touching spans merged into one, so
 * each masked region is replaced once ("[redacted]", not "[redacted][redacted]").
 * Returns its argument when it is already in that form.
 */
export function mergeSpans(spans: readonly Span[]): readonly Span[] {
  if (isMerged(spans)) return spans;
  const sorted = [...spans].sort((a, b) => a.start - b.start || a.end - b.end);
  const merged: Span[] = [];
  let current = sorted[0] as Span;
  for (let i = 1; i < sorted.length; i++) {
    const next = sorted[i] as Span;
    if (next.start <= current.end) {
      if (next.end > current.end) current = { start: current.start, end: next.end };
    } else {
      merged.push(current);
      current = next;
    }
  }
  merged.push(current);
  return merged;
}

function isMerged(spans: readonly Span[]): boolean {
  for (let i = 1; i < spans.length; i++) {
    if ((spans[i] as Span).start <= (spans[i - 1] as Span).end) return false;
  }
  return true;
}

/**
 * The text with each span replaced by maskText(strategy, the span's text); every
 * character outside the spans is kept. Spans are clamped to the text and merged
 * first. For the "null" strategy there is no partial result: a caller masking with
 * it turns the whole value into NULL when detect finds any span.
 */
export function maskSpans(text: string, spans: readonly Span[], strategy: SpanStrategy): string {
  if (spans.length === 0) return text;
  let out = '';
  let pos = 0;
  for (const span of mergeSpans(spans)) {
    const start = Math.max(span.start, pos);
    const end = Math.min(span.end, text.length);
    if (start >= end) continue;
    out += text.slice(pos, start) + maskText(strategy, text.slice(start, end));
    pos = end;
  }
  return out + text.slice(pos);
}
