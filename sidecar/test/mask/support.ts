import type { StatementFacts } from '../../src/analyze/facts.js';
import type { Analyzer } from '../../src/analyze/parser.js';
import type { RelationEntry } from '../../src/mask/sensitive-catalog.js';
import type { Span } from '../../src/mask/spans.js';
import type { MaskStrategy } from '../../src/mask/strategies.js';

/** The substrings a detector found, in order: tables state expectations as text, not offsets. */
export function matched(text: string, spans: readonly Span[]): string[] {
  return spans.map((s) => text.slice(s.start, s.end));
}

/** The Luhn check digit that completes `payload`: generates valid card numbers. */
export function luhnCheckDigit(payload: string): string {
  let sum = 0;
  for (let i = 0; i < payload.length; i++) {
    // Counting from the right of the completed number, the check digit is position 1,
    // so the payload's last digit is doubled.
    let d = Number(payload[payload.length - 1 - i]);
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

/** The facts of a SQL text holding exactly one statement. */
export function statementFacts(analyze: Analyzer, sql: string): StatementFacts {
  const analysis = analyze(sql);
  if (!analysis.ok) throw new Error(`${sql}: ${analysis.error.message}`);
  if (analysis.statements.length !== 1) throw new Error(`${sql}: ${analysis.statements.length} statements`);
  return (analysis.statements[0] as { facts: StatementFacts }).facts;
}

/** A catalog entry: `attributes` by attnum - 1, `masked` the strategies of the masked ones. */
export function maskedRelation(
  oid: number,
  qualified: string,
  attributes: readonly string[],
  masked: Readonly<Record<string, MaskStrategy>>,
  filtersOn: string | null = null,
): RelationEntry {
  const columns = new Map(
    Object.entries(masked).map(([name, strategy]) => [name, { name: `${qualified}.${name}`, strategy }]),
  );
  return { oid, qualified, columns, attributes, types: attributes.map(() => 25), filtersOn };
}
