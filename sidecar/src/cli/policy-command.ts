import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { BuiltinRuleName, CompiledPolicy } from '@pgwarden/crds';
import { analyze, ensureParserLoaded } from '../analyze/parser.js';
import { ConfigError } from '../config/config-error.js';
import { loadPolicyFile } from '../config/policy-file.js';
import { compilePolicy, PolicyCompileError } from '../decide/compile.js';
import type { Outcome } from '../decide/decision.js';
import { PolicyEngine } from '../decide/engine.js';

export function policyHelp(): string {
  return `Usage: pgwarden policy test --policy FILE [--json] (-c SQL | -f FILE.sql)...

Decides SQL under a policy file as the proxy would, without a database, and
prints per statement the outcome, the deciding rule and the facts it was
decided from. Each -c or -f is one message (one simple Query): a denied
statement denies its whole message. -f - reads standard input.

Options:
  --policy FILE      The AgentAccessPolicy (YAML or JSON).
  -c, --command SQL  SQL to decide; repeatable.
  -f, --file FILE    A file of SQL to decide; repeatable.
  --json             One JSON object per line: each statement ("type":"statement"),
                     then the message it belongs to ("type":"message").

Exit status: 0 when every statement was decided, whatever the outcomes;
1 when some SQL does not parse or cannot be classified (the proxy denies it);
2 when the policy is invalid or an input cannot be read.
`;
}

interface StatementLine {
  type: 'statement';
  input: number;
  statement: number;
  sql: string;
  outcome: Outcome;
  rule: string;
  message: string;
  kind: string;
  tablesRead: readonly string[];
  tablesWritten: readonly string[];
  functions: readonly string[];
}

interface MessageLine {
  type: 'message';
  input: number;
  statements: number;
  outcome: Outcome;
  rule: string;
  message: string;
  /** Null when the SQL could not be analysed. */
  kind: string | null;
  /** The SQL, only when it could not be analysed (there are no statement lines to show it). */
  sql?: string;
}

type Line = StatementLine | MessageLine;

export async function runPolicyCommand(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    out.write(policyHelp());
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'test') throw new ConfigError(`unknown policy command "${sub}"; see pgwarden policy --help`);
  const { values, tokens } = parseArgs({
    args: rest,
    options: {
      policy: { type: 'string' },
      command: { type: 'string', short: 'c', multiple: true },
      file: { type: 'string', short: 'f', multiple: true },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    tokens: true,
  });
  if (values.help) {
    out.write(policyHelp());
    return 0;
  }
  if (!values.policy) throw new ConfigError('policy test: --policy FILE is required');
  const inputs = readInputs(tokens);
  if (inputs.length === 0) throw new ConfigError('policy test: give the SQL with -c SQL or -f FILE.sql');

  const engine = new PolicyEngine(compileFile(values.policy));
  await ensureParserLoaded();
  const lines = inputs.flatMap((sql, i) => decideInput(engine, sql, i + 1));
  out.write(
    values.json
      ? lines.map((l) => `${JSON.stringify(l)}\n`).join('')
      : renderTable(engine.policy, lines, inputs.length),
  );
  return lines.some((l) => l.type === 'message' && l.kind === null) ? 1 : 0;
}

function compileFile(path: string): CompiledPolicy {
  try {
    return compilePolicy(loadPolicyFile(path));
  } catch (err) {
    if (err instanceof PolicyCompileError) throw new ConfigError(`${path}: ${err.message}`);
    throw err;
  }
}

/** The SQL of each -c and -f, in the order given. */
function readInputs(tokens: NonNullable<ReturnType<typeof parseArgs>['tokens']>): string[] {
  const inputs: string[] = [];
  for (const token of tokens) {
    if (token.kind !== 'option' || token.value === undefined) continue;
    if (token.name === 'command') inputs.push(token.value);
    else if (token.name === 'file') inputs.push(readSql(token.value));
  }
  return inputs;
}

function readSql(path: string): string {
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `policy test: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
}

/** A line per statement, then one for the message; only the message line when the SQL cannot be analysed. */
function decideInput(engine: PolicyEngine, sql: string, input: number): Line[] {
  const analysis = analyze(sql);
  if (!analysis.ok) {
    const { reason, message, position } = analysis.error;
    return [
      {
        type: 'message',
        input,
        statements: 0,
        outcome: 'deny',
        rule: (reason === 'parse' ? 'parse-error' : 'unclassified-statement') satisfies BuiltinRuleName,
        message: position === null ? message : `${message} (at character ${position})`,
        kind: null,
        sql: sql.trim(),
      },
    ];
  }
  const lines: Line[] = analysis.statements.map(({ sql: text, facts }, i) => {
    const d = engine.decide(facts);
    return {
      type: 'statement',
      input,
      statement: i + 1,
      sql: text.trim(),
      outcome: d.outcome,
      rule: d.rule,
      message: d.message,
      kind: d.kind,
      tablesRead: facts.tablesRead,
      tablesWritten: facts.tablesWritten,
      functions: facts.functions,
    };
  });
  const d = engine.decideMessage(analysis.statements.map((s) => s.facts));
  lines.push({
    type: 'message',
    input,
    statements: analysis.statements.length,
    outcome: d.outcome,
    rule: d.rule,
    message: d.message,
    kind: d.kind,
  });
  return lines;
}

const HEADER = ['#', 'OUTCOME', 'RULE', 'KIND', 'READS', 'WRITES', 'FUNCTIONS', 'STATEMENT'];
const SQL_WIDTH = 60;

/**
 * Columns per statement, the message of each refusal under its row, and a
 * message line where a message's outcome is not just its one statement's.
 */
function renderTable(policy: CompiledPolicy, lines: readonly Line[], inputs: number): string {
  const cells: string[][] = [HEADER];
  const notes = new Map<number, string[]>();
  const note = (text: string) => {
    const at = cells.length - 1;
    notes.set(at, [...(notes.get(at) ?? []), text]);
  };
  for (const line of lines) {
    const n = inputs > 1 ? `${line.input}.` : '';
    if (line.type === 'statement') {
      const list = (names: readonly string[]) => (names.length > 0 ? names.join(',') : '-');
      cells.push([
        `${n}${line.statement}`,
        line.outcome,
        line.rule,
        line.kind,
        list(line.tablesRead),
        list(line.tablesWritten),
        list(line.functions),
        oneLine(line.sql),
      ]);
      if (line.outcome !== 'allow') note(line.message);
    } else if (line.kind === null) {
      cells.push([
        inputs > 1 ? String(line.input) : '-',
        line.outcome,
        line.rule,
        '-',
        '-',
        '-',
        '-',
        oneLine(line.sql ?? ''),
      ]);
      note(line.message);
    } else if (line.statements > 1) {
      note(
        `message ${inputs > 1 ? `${line.input} ` : ''}(all ${line.statements} statements): ${line.outcome} by rule "${line.rule}"`,
      );
    }
  }
  const widths = HEADER.map((_, c) => Math.max(...cells.map((row) => (row[c] ?? '').length)));
  const indent = ' '.repeat((widths[0] ?? 0) + 2);
  const body = cells.map((row, r) => {
    const text = row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c] ?? 0))).join('  ');
    return [text.trimEnd(), ...(notes.get(r) ?? []).map((t) => `${indent}${t}`)].join('\n');
  });
  return `policy ${policy.name} (access ${policy.access}, sha256 ${policy.hash.slice(0, 12)})\n\n${body.join('\n')}\n`;
}

function oneLine(sql: string): string {
  const text = sql.replace(/\s+/g, ' ');
  return text.length > SQL_WIDTH ? `${text.slice(0, SQL_WIDTH - 1)}…` : text;
}
