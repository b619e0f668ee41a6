import type { RecordedColumn } from '@pgwarden/crds';

// int2, int4, int8, oid, float4, float8, numeric, money: right-aligned, as psql does.
const NUMERIC_TYPES = new Set([20, 21, 23, 26, 700, 701, 790, 1700]);

/** Display width of a cell: newlines and tabs would break the grid, so they show escaped. */
function show(value: string | null): string {
  return value === null ? '' : value.replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
}

/**
 * A result as psql's aligned format prints it: centred headers, a dashed rule,
 * numbers right-aligned, NULL as an empty cell, "(N rows)" below. Masked
 * columns carry a "*" after their name.
 */
export function formatTable(
  columns: readonly RecordedColumn[],
  rows: readonly (readonly (string | null)[])[],
  indent = '',
): string[] {
  const headers = columns.map((c) => (c.masked ? `${c.name}*` : c.name));
  const cells = rows.map((row) => columns.map((_, i) => show(row[i] ?? null)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] as string).length)));
  const center = (text: string, width: number) => {
    const left = Math.floor((width - text.length) / 2);
    return `${' '.repeat(left)}${text}${' '.repeat(width - text.length - left)}`;
  };
  const lines = [
    ` ${headers.map((h, i) => center(h, widths[i] as number)).join(' | ')} `.trimEnd(),
    widths.map((w) => '-'.repeat(w + 2)).join('+'),
  ];
  for (const row of cells) {
    const parts = row.map((v, i) => {
      const w = widths[i] as number;
      return NUMERIC_TYPES.has((columns[i] as RecordedColumn).typeOid) ? v.padStart(w) : v.padEnd(w);
    });
    lines.push(` ${parts.join(' | ')} `.trimEnd());
  }
  return lines.map((l) => `${indent}${l}`);
}
